"""ARNs, function names and qualifiers as value objects.

Every place that reads a function reference from a request goes through
`FunctionRef.parse`; every ARN Lamina emits is built by the `*_arn` helpers here.
No other module parses ARNs with its own regular expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Named-group twin of botocore's NamespacedFunctionName pattern (the model's
# pattern decides validity; this one only splits a valid value into parts).
_FUNCTION_REF = re.compile(
    r"(?:arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?"
    r"(?:(?P<region>[a-z]{2}(?:(?:-gov)|(?:-iso(?:[a-z]?)))?-[a-z]+-\d{1}):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?:function:)?"
    r"(?P<name>[a-zA-Z0-9-_\.]+)"
    r"(?::(?P<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9-_]+))?")

_LAYER_VERSION_ARN = re.compile(
    r"arn:(?P<partition>[a-zA-Z0-9-]+):lambda:(?P<region>[a-zA-Z0-9-]+):(?P<account>\d{12})"
    r":layer:(?P<name>[a-zA-Z0-9-_]+)(?::(?P<version>[0-9]+))?")

LATEST = "$LATEST"
_VERSION = re.compile(r"[0-9]+")


def partition_for(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def is_version(qualifier: str) -> bool:
    return qualifier == LATEST or bool(_VERSION.fullmatch(qualifier))


@dataclass(frozen=True)
class FunctionRef:
    """A function named by a request: name plus the optional parts the caller gave."""

    name: str
    qualifier: str | None = None
    region: str | None = None
    account: str | None = None
    is_arn: bool = False

    @staticmethod
    def parse(value: str) -> FunctionRef:
        """Split a value that already passed the model's pattern check."""
        m = _FUNCTION_REF.fullmatch(value)
        if not m:
            raise ValueError(value)
        return FunctionRef(name=m["name"], qualifier=m["qualifier"], region=m["region"],
                           account=m["account"], is_arn=value.startswith("arn:"))


@dataclass(frozen=True)
class Arns:
    """Builds the ARNs of one account in one region."""

    region: str
    account: str

    @property
    def partition(self) -> str:
        return partition_for(self.region)

    def _base(self, service: str = "lambda") -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}"

    def function(self, name: str, qualifier: str | None = None) -> str:
        arn = f"{self._base()}:function:{name}"
        return f"{arn}:{qualifier}" if qualifier else arn

    def layer(self, name: str, version: int | None = None) -> str:
        arn = f"{self._base()}:layer:{name}"
        return f"{arn}:{version}" if version is not None else arn

    def event_source_mapping(self, uuid: str) -> str:
        return f"{self._base()}:event-source-mapping:{uuid}"


@dataclass(frozen=True)
class LayerVersionRef:
    partition: str
    region: str
    account: str
    name: str
    version: int | None

    @staticmethod
    def parse(value: str) -> LayerVersionRef | None:
        m = _LAYER_VERSION_ARN.fullmatch(value)
        if not m:
            return None
        version = int(m["version"]) if m["version"] else None
        return LayerVersionRef(m["partition"], m["region"], m["account"], m["name"], version)


def parse_resource_arn(value: str) -> dict[str, str] | None:
    """Split a generic ARN into partition/service/region/account/resource."""
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return dict(zip(("arn", "partition", "service", "region", "account", "resource"), parts,
                    strict=True))

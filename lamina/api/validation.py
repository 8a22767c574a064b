"""Checks decoded request parameters against the service model's constraints.

The message texts come from `lamina.model.messages`; this module decides which
constraints apply, in AWS's order, with AWS's exceptions to the model.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from lamina.control.runtimes import ACCEPTED, runtime_enum
from lamina.errors import ValidationException
from lamina.model import ServiceModel
from lamina.model.messages import summary, violation

# (shape, member path) pairs whose violations AWS reports differently; their owners
# validate them (a function's `runtime`). Elsewhere, e.g. the layer filters'
# `compatibleRuntime`, the model's enum applies as usual.
_SKIP_SHAPES = {("Runtime", "runtime")}
# List members whose item violations AWS quotes bare, without "Member must satisfy
# constraint: [...]" (recorded for `compatibleRuntimes`).
_BARE_ITEM_SHAPES = {"Runtime"}
# Members AWS checks after the others of their structure, whatever the model's
# (alphabetical) order: recorded, `compatibleRuntimes` is reported before
# `compatibleArchitectures` (the newer member).
_CHECKED_LAST = {"CompatibleArchitectures"}


# Item shapes whose list violations AWS reports without "Member must not be null"
# (recorded for `vpcConfig.subnetIds` / `vpcConfig.securityGroupIds`; `architectures`
# and `layers` carry it).
_NULLABLE_ITEM_SHAPES = {"SubnetId", "SecurityGroupId"}
# Constraints AWS enforces (and quotes) that botocore's model lacks or states
# differently (recorded: test_invalid_vpc_config_subnet/_security_group,
# test_layer_function_exceptions, get_layer_version_by_arn).
_SHAPE_OVERRIDES: dict[str, dict[str, Any]] = {
    "SubnetId": {"max": 1024, "min": 0, "pattern": "subnet-[0-9a-z]*"},
    "SecurityGroupId": {"max": 1024, "min": 0, "pattern": "sg-[0-9a-zA-Z]*"},
    "LayerVersionArn": {
        "max": 2048, "min": 1,
        "pattern": (r"(arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:"
                    r"\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:"
                    r"[a-zA-Z0-9-_]+)"),
    },
}
# Map key shapes checked here; the owners of other maps check their keys in AWS's
# order (control/aliases.py for AdditionalVersionWeights).
_CHECKED_MAP_KEYS = {"EnvironmentVariableName"}
# AWS's region sub-pattern now admits the European Sovereign Cloud prefix; every
# recorded pattern quoting a region has it (function names, layer and taggable ARNs).
_REGION = r"[a-z]{2}((-gov)|(-iso([a-z]?)))?"
_REGION_AWS = "(eusc-)?" + _REGION


def aws_pattern(pattern: str) -> str:
    """A model pattern as AWS enforces and quotes it today."""
    return pattern.replace(_REGION, _REGION_AWS)


# Enums whose values AWS lists in another order than the model (recorded). The
# runtime enum is quoted as the runtimes AWS accepts (recorded for compatibleRuntimes).
_ENUM_ORDER: dict[tuple[str, ...], list[str]] = {
    ("BUFFERED", "RESPONSE_STREAM"): ["RESPONSE_STREAM", "BUFFERED"],
    ("Allow", "Terminate"): ["Terminate", "Allow"],
    ("AT_TIMESTAMP", "LATEST", "TRIM_HORIZON"): ["LATEST", "AT_TIMESTAMP", "TRIM_HORIZON"],
    tuple(sorted(runtime_enum())): list(ACCEPTED),
}


def member_path(name: str) -> str:
    return name[:1].lower() + name[1:]


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.S)


class Validator:
    """Checks decoded parameters against an operation's input shape."""

    def __init__(self, model: ServiceModel) -> None:
        self.model = model

    def shape(self, name: str) -> dict[str, Any]:
        """The model's shape with AWS's own constraints laid over it."""
        shape = self.model.shape(name)
        override = _SHAPE_OVERRIDES.get(name)
        return {**shape, **override} if override else shape

    def check(self, shape_name: str, params: dict[str, Any]) -> None:
        messages: list[str] = []
        self._structure(shape_name, params, "", messages)
        if messages:
            raise ValidationException(summary(messages))

    def _structure(self, shape_name: str, value: dict[str, Any], prefix: str,
                   out: list[str]) -> None:
        shape = self.shape(shape_name)
        members = shape.get("members", {})
        for member in sorted(members, key=lambda m: m in _CHECKED_LAST):
            spec = members[member]
            path = prefix + member_path(member)
            present = member in value and value[member] is not None
            if not present:
                if member in shape.get("required", ()):
                    out.append(violation(path, None, "Member must not be null"))
                continue
            self._value(spec["shape"], value[member], path, out)

    def _value(self, shape_name: str, value: Any, path: str, out: list[str]) -> None:
        if (shape_name, path) in _SKIP_SHAPES:
            return
        shape = self.shape(shape_name)
        kind = shape["type"]
        if kind == "structure" and isinstance(value, dict):
            self._structure(shape_name, value, path + ".", out)
            return
        problems = self.problems(shape, value)
        if problems and kind in ("list", "map", "structure"):
            out.append(violation(path, value, problems[0]))
            return
        if problems:
            # Each broken constraint of a scalar is its own error (recorded: a long,
            # malformed CreateFunction name gives "2 validation errors detected").
            out.extend(violation(path, value, problem) for problem in problems)
            return
        if kind == "list" and isinstance(value, list):
            member = shape["member"]["shape"]
            member_shape = self.shape(member)
            for item in value:
                item_problems = self.problems(member_shape, item)
                if item_problems and member in _BARE_ITEM_SHAPES:
                    out.append(violation(path, value, item_problems[0]))
                    return
                if item_problems:
                    # AWS quotes every constraint of the item shape, not just the broken one.
                    every = self.item_constraints(member_shape)
                    if member not in _NULLABLE_ITEM_SHAPES:
                        every.append("Member must not be null")
                    out.append(violation(path, value, "Member must satisfy constraint: ["
                                         + ", ".join(every) + "]"))
                    return
        if kind == "map" and isinstance(value, dict):
            sensitive = bool(shape.get("sensitive"))
            key_shape = self.shape(shape["key"]["shape"])
            if shape["key"]["shape"] in _CHECKED_MAP_KEYS and any(
                    self.problems(key_shape, key) for key in value):
                # Observed on AWS for environment variable names: "Value at
                # 'environment.variables' failed to satisfy constraint: Map keys must
                # satisfy constraint: [Member must satisfy regular expression pattern: …]".
                out.append(violation(path, value, "Map keys must satisfy constraint: ["
                                     + ", ".join(self.item_constraints(key_shape)) + "]",
                                     sensitive))
                return
            value_shape = self.shape(shape["value"]["shape"])
            for item in value.values():
                if self.problems(value_shape, item):
                    every = self.constraints(value_shape) + ["Member must not be null"]
                    out.append(violation(path, value, "Map value must satisfy constraint: ["
                                         + ", ".join(every) + "]", sensitive))
                    return

    def problems(self, shape: dict[str, Any], value: Any) -> list[str]:
        """The constraints of `shape` that `value` violates (in AWS's order)."""
        found: list[str] = []
        kind = shape["type"]
        if value is None:
            return ["Member must not be null"]
        if kind in ("string", "list", "map", "blob"):
            size = len(value)
            if "max" in shape and size > shape["max"]:
                found.append(f"Member must have length less than or equal to {shape['max']}")
            if "min" in shape and size < shape["min"]:
                found.append(f"Member must have length greater than or equal to {shape['min']}")
        if kind == "string" and isinstance(value, str):
            if "enum" in shape and value not in shape["enum"]:
                listed = _ENUM_ORDER.get(tuple(sorted(shape["enum"])), shape["enum"])
                found.append("Member must satisfy enum value set: [" + ", ".join(listed) + "]")
            if "pattern" in shape:
                pattern = aws_pattern(shape["pattern"])
                if not _compiled(pattern).fullmatch(value):
                    found.append(f"Member must satisfy regular expression pattern: {pattern}")
        if kind in ("integer", "long", "double", "float") and isinstance(value, (int, float)):
            if "max" in shape and value > shape["max"]:
                found.append(f"Member must have value less than or equal to {_number(shape, 'max')}")
            if "min" in shape and value < shape["min"]:
                found.append(f"Member must have value greater than or equal to {_number(shape, 'min')}")
        return found

    @staticmethod
    def item_constraints(shape: dict[str, Any]) -> list[str]:
        """All constraints of a list's item shape, in the order AWS quotes them."""
        listed = []
        if shape["type"] == "string":
            if "max" in shape:
                listed.append(f"Member must have length less than or equal to {shape['max']}")
            if "min" in shape:
                listed.append(f"Member must have length greater than or equal to {shape['min']}")
            if "enum" in shape:
                enum = shape["enum"]
                listed.append("Member must satisfy enum value set: ["
                              + ", ".join(_ENUM_ORDER.get(tuple(sorted(enum)), enum)) + "]")
            if "pattern" in shape:
                listed.append("Member must satisfy regular expression pattern: "
                              + aws_pattern(shape["pattern"]))
        return listed

    @staticmethod
    def constraints(shape: dict[str, Any]) -> list[str]:
        listed = []
        if "max" in shape:
            listed.append(f"Member must have value less than or equal to {_number(shape, 'max')}")
        if "min" in shape:
            listed.append(f"Member must have value greater than or equal to {_number(shape, 'min')}")
        return listed


def _number(shape: dict[str, Any], key: str) -> str:
    value = shape[key]
    return str(float(value)) if shape["type"] in ("double", "float") else str(value)

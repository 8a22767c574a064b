"""A distribution: one custom origin and up to four Lambda@Edge associations.

Read from a JSON file (`load`) or built from command-line values (`build`). Names follow
CloudFront's DistributionConfig where CloudFront has one::

    {"Id": "EDFDVBD6EXAMPLE",                        # optional
     "DomainName": "d111111abcdef8.cloudfront.net",  # optional: config.distributionDomainName
     "Origin": "http://127.0.0.1:8080/prefix",       # the custom origin (scheme, host, port, path)
     "OriginReadTimeout": 30, "OriginKeepaliveTimeout": 5,
     "OriginCustomHeaders": {"X-From-Edge": "1"},
     "LambdaFunctionAssociations": [                 # a list, or {"Quantity": n, "Items": [...]}
        {"EventType": "viewer-request", "LambdaFunctionARN": "arn:aws:lambda:…:function:f:1",
         "IncludeBody": true}]}

`load`/`build` check what CloudFront checks when a distribution is saved and can be checked
without the function (one association per event type; a numbered version, not $LATEST or an
alias). `check_function` does the checks that need the version's configuration (timeout,
memory, environment variables, runtime); the proxy runs it on a version's first use, because a
server that starts with an edge config starts before the functions it names are published.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lamina.arns import FunctionRef

VIEWER_REQUEST = "viewer-request"
ORIGIN_REQUEST = "origin-request"
ORIGIN_RESPONSE = "origin-response"
VIEWER_RESPONSE = "viewer-response"
EVENT_TYPES = (VIEWER_REQUEST, ORIGIN_REQUEST, ORIGIN_RESPONSE, VIEWER_RESPONSE)
REQUEST_EVENTS = (VIEWER_REQUEST, ORIGIN_REQUEST)


@dataclass(frozen=True)
class Limits:
    """CloudFront's quotas for one kind of event (Quotas on Lambda@Edge)."""

    timeout_s: int           # the function's configured timeout may not exceed this
    memory_mb: int | None    # None: Lambda's own limit
    generated_bytes: int     # a generated or replaced response, headers and body
    body_bytes: int          # the request body shown to the function (include body) / replaced


VIEWER_LIMITS = Limits(timeout_s=5, memory_mb=128, generated_bytes=40 * 1024, body_bytes=40 * 1024)
ORIGIN_LIMITS = Limits(timeout_s=30, memory_mb=None, generated_bytes=1024 * 1024,
                       body_bytes=1024 * 1024)


def limits_for(event_type: str) -> Limits:
    return VIEWER_LIMITS if event_type.startswith("viewer") else ORIGIN_LIMITS


class ConfigError(ValueError):
    """The distribution is invalid; the message is CloudFront's where CloudFront has one."""


@dataclass(frozen=True)
class Association:
    event_type: str
    arn: str
    name: str
    version: str
    region: str | None
    include_body: bool = False


@dataclass(frozen=True)
class Origin:
    """The custom origin, as `request.origin.custom` shows it to origin-request functions."""

    protocol: str
    domain_name: str
    port: int
    path: str
    read_timeout: int = 30
    keepalive_timeout: int = 5
    custom_headers: dict[str, str] = field(default_factory=dict)

    def event_shape(self) -> dict[str, Any]:
        headers = {name.lower(): [{"key": name, "value": value}]
                   for name, value in self.custom_headers.items()}
        return {"custom": {"customHeaders": headers, "domainName": self.domain_name,
                           "keepaliveTimeout": self.keepalive_timeout, "path": self.path,
                           "port": self.port, "protocol": self.protocol,
                           "readTimeout": self.read_timeout, "sslProtocols": ["TLSv1.2"]}}


@dataclass(frozen=True)
class Distribution:
    id: str
    domain_name: str
    origin: Origin
    associations: dict[str, Association]

    def trigger(self, event_type: str) -> Association | None:
        return self.associations.get(event_type)


def parse_origin(url: str, read_timeout: int = 30, keepalive_timeout: int = 5,
                 custom_headers: dict[str, str] | None = None) -> Origin:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"The origin must be an http:// or https:// URL, not {url!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"The origin URL cannot have a query string or fragment: {url!r}")
    if not 4 <= read_timeout <= 60:
        raise ConfigError("OriginReadTimeout must be from 4 to 60 seconds")
    if not 1 <= keepalive_timeout <= 60:
        raise ConfigError("OriginKeepaliveTimeout must be from 1 to 60 seconds")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Origin(protocol=parts.scheme, domain_name=parts.hostname, port=port,
                  path=parts.path.rstrip("/"), read_timeout=read_timeout,
                  keepalive_timeout=keepalive_timeout, custom_headers=dict(custom_headers or {}))


def parse_association(event_type: str, arn: str, include_body: bool = False) -> Association:
    """One trigger; a numbered version is required, as CloudFront requires it."""
    if event_type not in EVENT_TYPES:
        raise ConfigError(f"EventType must be one of {', '.join(EVENT_TYPES)}, not {event_type!r}")
    if include_body and event_type not in REQUEST_EVENTS:
        raise ConfigError(f"IncludeBody is only allowed for viewer-request and origin-request "
                          f"events, not {event_type}")
    try:
        ref = FunctionRef.parse(arn)
    except ValueError:
        ref = None
    if ref is None or not ref.is_arn or ref.qualifier is None or not ref.qualifier.isdigit():
        # CloudFront's InvalidLambdaFunctionAssociation message, for $LATEST, aliases and
        # unqualified ARNs alike.
        raise ConfigError("The function ARN must reference a specific function version. "
                          f"(The ARN must end with the version number.) ARN: {arn}")
    return Association(event_type=event_type, arn=arn, name=ref.name, version=ref.qualifier,
                       region=ref.region, include_body=bool(include_body))


def build(origin: str, associations: list[Association], *, id: str | None = None,
          domain_name: str | None = None, read_timeout: int = 30, keepalive_timeout: int = 5,
          custom_headers: dict[str, str] | None = None) -> Distribution:
    by_type: dict[str, Association] = {}
    for assoc in associations:
        if assoc.event_type in by_type:
            raise ConfigError(f"Only one function can be associated with the {assoc.event_type} "
                              "event of a cache behavior")
        by_type[assoc.event_type] = assoc
    # A stable id derived from the origin, in CloudFront's shape (E + 13 characters).
    dist_id = id or "E" + hashlib.sha256(origin.encode()).hexdigest()[:13].upper()
    return Distribution(id=dist_id, domain_name=domain_name or f"{dist_id.lower()}.edge.localhost",
                        origin=parse_origin(origin, read_timeout, keepalive_timeout, custom_headers),
                        associations=by_type)


def from_document(doc: dict[str, Any]) -> Distribution:
    if not isinstance(doc, dict) or not isinstance(doc.get("Origin"), str):
        raise ConfigError("The distribution config must be a JSON object with an \"Origin\" URL")
    items = doc.get("LambdaFunctionAssociations") or []
    if isinstance(items, dict):
        items = items.get("Items") or []
    associations = []
    for item in items:
        if not isinstance(item, dict) or "EventType" not in item or "LambdaFunctionARN" not in item:
            raise ConfigError("Each LambdaFunctionAssociation needs EventType and LambdaFunctionARN")
        associations.append(parse_association(item["EventType"], item["LambdaFunctionARN"],
                                              bool(item.get("IncludeBody", False))))
    headers = doc.get("OriginCustomHeaders") or {}
    if isinstance(headers, dict) and "Items" in headers:   # CloudFront's {Quantity, Items} form
        headers = {h["HeaderName"]: h["HeaderValue"] for h in headers["Items"] or []}
    return build(doc["Origin"], associations, id=doc.get("Id"), domain_name=doc.get("DomainName"),
                 read_timeout=int(doc.get("OriginReadTimeout", 30)),
                 keepalive_timeout=int(doc.get("OriginKeepaliveTimeout", 5)),
                 custom_headers={str(k): str(v) for k, v in headers.items()})


def load(path: str | Path) -> Distribution:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the edge config {path}: {exc}") from None
    return from_document(doc)


def check_function(assoc: Association, config: dict[str, Any], region: str) -> None:
    """CloudFront's association checks that need the version's configuration.

    Raises ConfigError with CloudFront's InvalidLambdaFunctionAssociation message.
    """
    arn = assoc.arn
    if assoc.region and assoc.region != region:
        # CloudFront requires us-east-1; Lamina serves one region, so that one stands in.
        raise ConfigError(f"The function must be in region '{region}'. ARN: {arn}")
    limits = limits_for(assoc.event_type)
    timeout = int(config.get("Timeout") or 3)
    if timeout > limits.timeout_s:
        raise ConfigError("The function timeout is larger than the maximum allowed for functions "
                          f"that are triggered by a CloudFront event: {timeout} Max allowed: "
                          f"{limits.timeout_s} Function: {arn}")
    memory = int(config.get("MemorySize") or 128)
    if limits.memory_mb is not None and memory > limits.memory_mb:
        raise ConfigError("The function memory size is larger than the maximum allowed for "
                          f"functions that are triggered by a CloudFront viewer event: {memory} "
                          f"Max allowed: {limits.memory_mb} Function: {arn}")
    if (config.get("Environment") or {}).get("Variables"):
        raise ConfigError(f"The function cannot have environment variables. Function: {arn}")
    runtime = str(config.get("Runtime") or "")
    if not runtime.startswith(("python", "nodejs")):
        raise ConfigError(f"The function has an invalid runtime for Lambda@Edge: {runtime or 'none'}."
                          f" Function: {arn}")

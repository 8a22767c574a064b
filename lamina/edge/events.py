"""CloudFront's Lambda@Edge event shapes: building events, checking what functions return.

Shapes follow the CloudFront Developer Guide ("Lambda@Edge event structure", "Generating HTTP
responses in request triggers", "Restrictions on edge functions"). Headers are CloudFront's map
of lower-case name -> [{"key": "Original-Case", "value": "..."}]; a response status is a string.

A function result that CloudFront would reject raises `Invalid`; the proxy answers it with 502.
Messages are CloudFront's where its wording is known (noted where it is Lamina's own).
"""

from __future__ import annotations

import base64
import binascii
import http
import json
from dataclasses import dataclass, field
from typing import Any

from lamina.edge.config import (
    ORIGIN_REQUEST,
    ORIGIN_RESPONSE,
    VIEWER_REQUEST,
    VIEWER_RESPONSE,
    Distribution,
    Limits,
)

Headers = dict[str, list[dict[str, str]]]

FAILED = "The Lambda function result failed validation: "
BODY_INVALID = FAILED + "The body is not a string, is not an object, or exceeds the maximum size."

# Not shown to functions and not addable by them ("Disallowed headers").
DISALLOWED = frozenset({
    "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "proxy-connection", "trailer", "upgrade", "x-accel-buffering", "x-accel-charset",
    "x-accel-limit-rate", "x-accel-redirect", "x-amzn-auth", "x-amzn-cf-billing", "x-amzn-cf-id",
    "x-amzn-cf-xff", "x-amzn-errortype", "x-amzn-fle-profile", "x-amzn-header-count",
    "x-amzn-header-order", "x-amzn-lambda-integration-tag", "x-amzn-requestid", "x-cache",
    "x-forwarded-proto", "x-real-ip"})
DISALLOWED_PREFIXES = ("x-amz-cf-", "x-edge-")

# Readable but not changeable, per event ("Read-only headers").
READ_ONLY = {
    VIEWER_REQUEST: frozenset({"content-length", "host", "transfer-encoding", "via"}),
    ORIGIN_REQUEST: frozenset({"accept-encoding", "content-length", "if-modified-since",
                               "if-none-match", "if-range", "if-unmodified-since",
                               "transfer-encoding", "via"}),
    ORIGIN_RESPONSE: frozenset({"transfer-encoding", "via"}),
    VIEWER_RESPONSE: frozenset({"warning", "via"}),
}

MAX_URI = 8192          # URI plus query string, in characters


class Invalid(Exception):
    """A function result CloudFront would refuse (a Lambda validation error: 502)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Request:
    """The request as it travels: CloudFront's `request` object and the real body bytes."""

    cf: dict[str, Any]
    body: bytes = b""


@dataclass
class Response:
    status: int
    description: str
    headers: Headers = field(default_factory=dict)
    body: bytes = b""
    generated: bool = False      # made by a request trigger, not fetched from the origin

    def cf(self) -> dict[str, Any]:
        return {"status": str(self.status), "statusDescription": self.description,
                "headers": self.headers}


# -- headers --------------------------------------------------------------------------------


def disallowed(name: str) -> bool:
    return name in DISALLOWED or name.startswith(DISALLOWED_PREFIXES)


def title_case(name: str) -> str:
    """The key Lambda@Edge inserts when a function gives only a value (Content-Type)."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def to_cf(pairs: list[tuple[str, str]]) -> Headers:
    """Wire headers (original case, in order) to CloudFront's map, disallowed ones left out."""
    out: Headers = {}
    for key, value in pairs:
        name = key.lower()
        if not disallowed(name):
            out.setdefault(name, []).append({"key": key, "value": value})
    return out


def to_wire(headers: Any) -> list[tuple[str, str]]:
    """CloudFront's map (as a function returned it) to wire pairs; raises Invalid if malformed."""
    if not isinstance(headers, dict):
        raise Invalid("The Lambda function returned an invalid entry in the headers object: "
                      "The headers object must be an object.")       # Lamina's wording
    pairs: list[tuple[str, str]] = []
    for name, entries in headers.items():
        if not isinstance(entries, list):
            raise Invalid("The Lambda function returned an invalid entry in the headers object: "
                          "Each header entry in the headers object must be an array.")
        for entry in entries:
            value = entry.get("value") if isinstance(entry, dict) else None
            key = entry.get("key", title_case(name)) if isinstance(entry, dict) else None
            if not isinstance(value, str) or not isinstance(key, str) or key.lower() != name \
                    or any(c in value for c in "\r\n\0"):
                raise Invalid("The Lambda function returned an invalid entry in the headers "
                              f"object: The header {name!r} has an invalid key or value.")  # Lamina's
            pairs.append((key, value))
    return pairs


def normalise(headers: Any) -> Headers:
    """A returned header map, validated, with missing keys filled in."""
    return to_cf_all(to_wire(headers))


def to_cf_all(pairs: list[tuple[str, str]]) -> Headers:
    out: Headers = {}
    for key, value in pairs:
        out.setdefault(key.lower(), []).append({"key": key, "value": value})
    return out


def check_changes(event_type: str, before: Headers, after: Headers) -> None:
    """Disallowed headers cannot be added; read-only ones cannot be added, changed or removed."""
    for name in after:
        if disallowed(name):
            raise Invalid(FAILED + "The function tried to add a blacklisted header.")
    for name in READ_ONLY[event_type]:
        if _values(before, name) != _values(after, name):
            raise Invalid(FAILED + "The function tried to add, delete, or change a read-only header.")


def _values(headers: Headers, name: str) -> list[str]:
    return [entry["value"] for entry in headers.get(name, [])]


def header_bytes(headers: Headers) -> int:
    return sum(len(e["key"]) + len(e["value"]) + 4 for entries in headers.values() for e in entries)


# -- events ---------------------------------------------------------------------------------


def event(dist: Distribution, event_type: str, request_id: str, request: dict[str, Any],
          response: Response | None = None) -> bytes:
    cf: dict[str, Any] = {
        "config": {"distributionDomainName": dist.domain_name, "distributionId": dist.id,
                   "eventType": event_type, "requestId": request_id},
        "request": request}
    if response is not None:
        cf["response"] = response.cf()
    return json.dumps({"Records": [{"cf": cf}]}).encode()


def body_field(data: bytes, limits: Limits) -> dict[str, Any]:
    """`request.body` for an include-body trigger: base64, truncated at the event's limit."""
    return {"inputTruncated": len(data) > limits.body_bytes, "action": "read-only",
            "encoding": "base64", "data": base64.b64encode(data[:limits.body_bytes]).decode()}


def _object(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except ValueError:
        raise Invalid("The Lambda function returned invalid JSON: The JSON output is not parsable.") \
            from None
    if not isinstance(value, dict):
        raise Invalid("The Lambda function returned invalid JSON: The JSON output must be an "
                      "object type.")
    return value


def _status(value: Any) -> int:
    try:
        status = int(value)
    except (TypeError, ValueError):
        status = 0
    if not 200 <= status <= 599 or isinstance(value, bool):
        raise Invalid(FAILED + f"The status {value!r} is not an HTTP status code from 200 to 599.")
    return status


def _description(value: Any, status: int) -> str:
    if value is None:
        try:
            return http.HTTPStatus(status).phrase
        except ValueError:
            return ""
    if not isinstance(value, str) or not value.isprintable() or not value.isascii():
        raise Invalid(FAILED + "The statusDescription must be printable ASCII text.")
    return value


def _decode_body(body: Any, encoding: Any) -> bytes:
    if not isinstance(body, str):
        raise Invalid(BODY_INVALID)
    if encoding in (None, "text"):
        return body.encode()
    if encoding != "base64":
        raise Invalid(FAILED + "The bodyEncoding must be text or base64.")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(FAILED + "The body is not valid base64.") from None


# -- what functions return ------------------------------------------------------------------


def request_result(event_type: str, payload: bytes, before: Request,
                   limits: Limits) -> Request | Response:
    """A request trigger's answer: the (possibly changed) request, or a generated response."""
    obj = _object(payload)
    if "status" in obj:
        return generated(obj, limits)
    if "uri" not in obj:      # e.g. the whole event returned; Lamina's wording
        raise Invalid(FAILED + "The result is neither a request (with a uri) nor a response "
                      "(with a status).")
    cf = dict(before.cf)
    if "headers" in obj:
        cf["headers"] = normalise(obj["headers"])
        check_changes(event_type, before.cf["headers"], cf["headers"])
    for key in ("uri", "querystring"):
        if key in obj:
            if not isinstance(obj[key], str):
                raise Invalid(FAILED + f"The {key} must be a string.")    # Lamina's wording
            cf[key] = obj[key]
    if not cf["uri"].startswith("/"):
        raise Invalid(FAILED + "The uri must begin with a slash (/).")
    if any(c in cf["querystring"] for c in " #") or any(ord(c) < 32 for c in cf["querystring"]):
        raise Invalid(FAILED + "The querystring cannot contain spaces, control characters or #.")
    if len(cf["uri"]) + len(cf["querystring"]) >= MAX_URI:
        raise Invalid(FAILED + "The URI and query string must be shorter than 8,192 characters.")
    if event_type == ORIGIN_REQUEST and obj.get("origin") is not None:
        cf["origin"] = check_origin(obj["origin"], cf["headers"])
    body = before.body
    returned = obj.get("body")
    if isinstance(returned, dict) and returned.get("action") == "replace":
        body = _decode_body(returned.get("data", ""), returned.get("encoding", "base64"))
        body = body[:limits.body_bytes]          # CloudFront truncates a replaced body
    cf.pop("body", None)                          # rebuilt for the next include-body trigger
    return Request(cf=cf, body=body)


def generated(obj: dict[str, Any], limits: Limits) -> Response:
    """A response a request trigger generated (only `status` is required)."""
    status = _status(obj["status"])
    headers = normalise(obj.get("headers") or {})
    for name in headers:
        if disallowed(name):
            raise Invalid(FAILED + "The function tried to add a blacklisted header.")
    body = b""
    if obj.get("body") is not None:
        body = _decode_body(obj["body"], obj.get("bodyEncoding"))
        if status == 204 and obj["body"]:
            raise Invalid(FAILED + "A 204 (No Content) response cannot have a body.")  # Lamina's
        if len(obj["body"].encode()) + header_bytes(headers) > limits.generated_bytes:
            raise Invalid(BODY_INVALID)
    return Response(status=status, description=_description(obj.get("statusDescription"), status),
                    headers=headers, body=body, generated=True)


def response_result(event_type: str, payload: bytes, before: Response,
                    limits: Limits) -> Response:
    """A response trigger's answer. Viewer-response functions cannot change the status."""
    obj = _object(payload)
    if "status" not in obj:   # Lamina's wording
        raise Invalid(FAILED + "The result is not a response object (it has no status).")
    status, description = before.status, before.description
    if event_type == ORIGIN_RESPONSE and "status" in obj:
        status = _status(obj["status"])
        description = _description(obj.get("statusDescription"), status)
    headers = before.headers
    if "headers" in obj:
        headers = normalise(obj["headers"])
        check_changes(event_type, before.headers, headers)
    body = before.body
    if obj.get("body") is not None:       # the origin's body is not shown; it may be replaced
        body = _decode_body(obj["body"], obj.get("bodyEncoding"))
        if len(obj["body"].encode()) + header_bytes(headers) > limits.generated_bytes:
            raise Invalid(BODY_INVALID)
    return Response(status=status, description=description, headers=headers, body=body,
                    generated=before.generated)


def check_origin(origin: Any, headers: Headers) -> dict[str, Any]:
    """An origin a function set: exactly one of custom or s3, with valid fields."""
    if not isinstance(origin, dict) or len(origin) != 1 or \
            next(iter(origin)) not in ("custom", "s3") or not isinstance(next(iter(origin.values())),
                                                                          dict):
        raise Invalid(FAILED + "The origin must contain exactly one custom or s3 origin.")
    kind, spec = next(iter(origin.items()))
    domain = spec.get("domainName")
    if not isinstance(domain, str) or not domain or ":" in domain or len(domain) > 253:
        raise Invalid(FAILED + "The origin domainName is invalid.")
    path = spec.get("path", "")
    if not isinstance(path, str) or (path and (not path.startswith("/") or path.endswith("/"))):
        raise Invalid(FAILED + "The origin path must begin with a slash and not end with one.")
    custom = normalise(spec.get("customHeaders") or {})
    for name in custom:
        if disallowed(name) or name in headers:
            raise Invalid(FAILED + "The function tried to add a blacklisted header.")
    if kind == "custom":
        port = spec.get("port", 443)
        if not isinstance(port, int) or not (port in (80, 443) or 1024 <= port <= 65535):
            raise Invalid(FAILED + "The origin port must be 80, 443 or from 1024 to 65535.")
        if spec.get("protocol", "https") not in ("http", "https"):
            raise Invalid(FAILED + "The origin protocol must be http or https.")
        if not 4 <= _number(spec.get("readTimeout", 30)) <= 60 or \
                not 1 <= _number(spec.get("keepaliveTimeout", 5)) <= 60:
            raise Invalid(FAILED + "The origin readTimeout (4-60) or keepaliveTimeout (1-60) is "
                          "out of range.")
    return {kind: {**spec, "customHeaders": custom}}


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else -1


def origin_target(origin: dict[str, Any], uri: str, querystring: str) -> tuple[str, list[tuple[str, str]],
                                                                                 float]:
    """(URL, custom header pairs, read timeout) of the request to the origin.

    An S3 origin is fetched as plain HTTPS from its domain (no origin access identity signing).
    """
    kind, spec = next(iter(origin.items()))
    query = f"?{querystring}" if querystring else ""
    path = spec.get("path", "") + uri
    if kind == "custom":
        url = f"{spec.get('protocol', 'https')}://{spec['domainName']}:{spec.get('port', 443)}{path}"
        timeout = float(spec.get("readTimeout", 30))
    else:
        url, timeout = f"https://{spec['domainName']}{path}", 30.0
    return url + query, to_wire(spec.get("customHeaders") or {}), timeout

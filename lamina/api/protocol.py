"""rest-json (de)serialisation driven by the service model.

`decode` turns an HTTP request into the operation's input parameters (path
labels, query string, headers, JSON body, raw payload) exactly where the model
puts them; `encode` does the reverse for output shapes.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from multidict import MultiMapping

from lamina.errors import InvalidRequestContentException, ValidationException
from lamina.model import Operation, ServiceModel


@dataclass
class Encoded:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str | None = "application/json"


def _scalar(shape: dict[str, Any], raw: str, name: str) -> Any:
    kind = shape["type"]
    try:
        if kind in ("integer", "long"):
            return int(raw)
        if kind in ("double", "float"):
            return float(raw)
    except ValueError:
        raise ValidationException(
            f"1 validation error detected: Value '{raw}' at '{name}' failed to satisfy "
            f"constraint: Member must be a number") from None
    if kind == "boolean":
        return raw.lower() == "true"
    return raw


def _from_json(model: ServiceModel, shape_name: str, value: Any) -> Any:
    """Apply the model's types to a parsed JSON value (blobs are base64, doubles floats)."""
    if value is None:
        return None
    shape = model.shape(shape_name)
    kind = shape["type"]
    if kind == "structure" and isinstance(value, dict):
        members = shape.get("members", {})
        return {k: _from_json(model, members[k]["shape"], v) if k in members else v
                for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_from_json(model, shape["member"]["shape"], v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _from_json(model, shape["value"]["shape"], v) for k, v in value.items()}
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise InvalidRequestContentException("Could not parse request body into json: "
                                                 "invalid base64 data") from None
    if kind in ("double", "float") and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def decode(model: ServiceModel, op: Operation, path_params: dict[str, str],
           query: MultiMapping[str], headers: MultiMapping[str], body: bytes) -> dict[str, Any]:
    if op.input_shape is None:
        return {}
    shape = model.shape(op.input_shape)
    members: dict[str, Any] = shape.get("members", {})
    params: dict[str, Any] = {}
    payload_member = shape.get("payload")
    body_members = {}
    for name, spec in members.items():
        location = spec.get("location")
        wire = spec.get("locationName", name)
        member_shape = model.shape(spec["shape"])
        if location == "uri":
            if wire in path_params:
                params[name] = unquote(path_params[wire])
        elif location == "querystring":
            if member_shape["type"] == "list":
                values = query.getall(wire, [])
                if values:
                    params[name] = values
            elif wire in query:
                params[name] = _scalar(member_shape, query[wire], wire)
        elif location == "header":
            if wire in headers:
                params[name] = _scalar(member_shape, headers[wire], wire)
        elif name == payload_member:
            if member_shape["type"] == "blob":
                params[name] = body
            elif body:
                params[name] = _from_json(model, spec["shape"], _parse_json(body))
        else:
            body_members[name] = spec
    if body_members and body and payload_member is None:
        document = _parse_json(body)
        if not isinstance(document, dict):
            raise InvalidRequestContentException("Could not parse request body into json: "
                                                 "expected an object")
        for name, spec in body_members.items():
            if name in document:
                params[name] = _from_json(model, spec["shape"], document[name])
    return params


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: {exc}") from None


def encode(model: ServiceModel, op: Operation, result: dict[str, Any]) -> Encoded:
    out = Encoded(status=op.status)
    if op.output_shape is None:
        out.content_type = None
        return out
    shape = model.shape(op.output_shape)
    members = shape.get("members", {})
    payload_member = shape.get("payload")
    document: dict[str, Any] = {}
    for name, value in result.items():
        if value is None:
            continue
        spec = members.get(name)
        location = spec.get("location") if spec else None
        if location == "statusCode":
            out.status = int(value)
        elif location == "header":
            out.headers[spec["locationName"]] = str(value)
        elif name == payload_member:
            if isinstance(value, (bytes, bytearray)):
                out.body = bytes(value)
                out.content_type = None
            else:
                out.body = json.dumps(value).encode()
        else:
            document[name] = value
    if payload_member is None:
        out.body = json.dumps(document, separators=(",", ":")).encode() if document or members else b""
    return out

"""The AWS Lambda service model (botocore's, checked in) as Lamina's wire contract."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

_MODEL_FILE = Path(__file__).with_name("lambda-2015-03-31.json")

# Where AWS answers with another status than the model says (recorded).
_STATUS_OVERRIDES = {"DeleteFunction": 204}


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str                      # the URI template without its query part
    fixed_query: dict[str, str]    # query parameters the URI template fixes (?find=LayerVersion)
    status: int
    input_shape: str | None
    output_shape: str | None
    pattern: re.Pattern[str]       # matches the raw (percent-encoded) request path


class ServiceModel:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.shapes: dict[str, dict[str, Any]] = raw["shapes"]
        self.operations: dict[str, Operation] = {}
        for name, op in raw["operations"].items():
            uri = op["http"]["requestUri"]
            path, _, query = uri.partition("?")
            fixed = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
            regex = re.sub(r"\\\{(\w+)(\\\+)?\\\}",
                           lambda m: f"(?P<{m[1]}>.+)" if m[2] else f"(?P<{m[1]}>[^/]+)",
                           re.escape(path.rstrip("/") or "/"))
            self.operations[name] = Operation(
                name=name, method=op["http"]["method"], path=path, fixed_query=fixed,
                status=_STATUS_OVERRIDES.get(name, op["http"].get("responseCode", 200)),
                input_shape=op.get("input", {}).get("shape"),
                output_shape=op.get("output", {}).get("shape"),
                pattern=re.compile(regex + "/?"))

    def shape(self, name: str) -> dict[str, Any]:
        return self.shapes[name]

    def enum(self, shape_name: str) -> list[str]:
        return list(self.shapes[shape_name].get("enum", []))


@cache
def load() -> ServiceModel:
    return ServiceModel(json.loads(_MODEL_FILE.read_text()))

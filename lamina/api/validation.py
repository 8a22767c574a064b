"""Checks decoded request parameters against the service model's constraints.

The message texts come from `lamina.model.messages`; this module decides which
constraints apply, in AWS's order, with AWS's exceptions to the model.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

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


# Enums whose values AWS lists in another order than the model (recorded).
_ENUM_ORDER: dict[tuple[str, ...], list[str]] = {
    ("BUFFERED", "RESPONSE_STREAM"): ["RESPONSE_STREAM", "BUFFERED"],
    ("Allow", "Terminate"): ["Terminate", "Allow"],
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

    def check(self, shape_name: str, params: dict[str, Any]) -> None:
        messages: list[str] = []
        self._structure(shape_name, params, "", messages)
        if messages:
            raise ValidationException(summary(messages))

    def _structure(self, shape_name: str, value: dict[str, Any], prefix: str,
                   out: list[str]) -> None:
        shape = self.model.shape(shape_name)
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
        shape = self.model.shape(shape_name)
        kind = shape["type"]
        if kind == "structure" and isinstance(value, dict):
            self._structure(shape_name, value, path + ".", out)
            return
        problems = self.problems(shape, value)
        if problems:
            out.append(violation(path, value, problems[0]))
            return
        if kind == "list" and isinstance(value, list):
            member = shape["member"]["shape"]
            for item in value:
                item_problems = self.problems(self.model.shape(member), item)
                if item_problems and member in _BARE_ITEM_SHAPES:
                    out.append(violation(path, value, item_problems[0]))
                    return
                if item_problems:
                    out.append(violation(path, value, "Member must satisfy constraint: ["
                                         + ", ".join(item_problems) + "]"))
                    return
        if kind == "map" and isinstance(value, dict):
            value_shape = self.model.shape(shape["value"]["shape"])
            for item in value.values():
                if self.problems(value_shape, item):
                    every = self.constraints(value_shape) + ["Member must not be null"]
                    out.append(violation(path, value, "Map value must satisfy constraint: ["
                                         + ", ".join(every) + "]"))
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
            if "pattern" in shape and not _compiled(shape["pattern"]).fullmatch(value):
                found.append(f"Member must satisfy regular expression pattern: {shape['pattern']}")
        if kind in ("integer", "long", "double", "float") and isinstance(value, (int, float)):
            if "max" in shape and value > shape["max"]:
                found.append(f"Member must have value less than or equal to {_number(shape, 'max')}")
            if "min" in shape and value < shape["min"]:
                found.append(f"Member must have value greater than or equal to {_number(shape, 'min')}")
        return found

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

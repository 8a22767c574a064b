"""AWS's constraint-violation message texts, in one place.

AWS Lambda reports model constraint violations as a 400 `ValidationException`:
``1 validation error detected: Value 'x' at 'functionName' failed to satisfy
constraint: Member must satisfy regular expression pattern: …``. Values are
rendered the way AWS's Java front end prints them (lists `[a, b]`, maps
`{k=v}`, doubles `2.0`). The model-driven `Validator` (api/validation.py) and
the checks `control/` makes itself both build their messages here.
"""

from __future__ import annotations

from typing import Any

from lamina.errors import InvalidParameterValueException, ValidationException


def render(value: Any) -> str:
    """A value as AWS's Java services print it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{render(k)}={render(v)}" for k, v in value.items()) + "}"
    return str(value)


def violation(path: str, value: Any, constraint: str, sensitive: bool = False) -> str:
    """One violation; AWS leaves out the value of sensitive members ("Value at 'x' ...")."""
    if sensitive:
        return f"Value at '{path}' failed to satisfy constraint: {constraint}"
    shown = "null" if value is None else f"'{render(value)}'"
    return f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}"


def summary(messages: list[str]) -> str:
    count = len(messages)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(messages)


def validation_error(path: str, value: Any, constraint: str) -> ValidationException:
    return ValidationException(summary([violation(path, value, constraint)]))


def invalid_parameter(path: str, value: Any, constraint: str) -> InvalidParameterValueException:
    """The same text, for the checks AWS reports as InvalidParameterValueException."""
    return InvalidParameterValueException(summary([violation(path, value, constraint)]))

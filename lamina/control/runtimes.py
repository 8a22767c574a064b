"""Which runtime ids CreateFunction/UpdateFunctionConfiguration accept, with AWS's errors."""

from __future__ import annotations

from functools import cache

from lamina.model import load

# The ids AWS accepts, in the order its enum error lists them (recorded 2026-01-12,
# test_create_lambda_exceptions / test_update_lambda_exceptions). Ids in deprecation
# whose "block create/update" date has not passed (python3.8, python3.9, nodejs16.x,
# nodejs18.x, dotnet6, ruby3.2) are still accepted: the same recording creates a
# python3.9 function and gets the zip error, and test_function_revisions_basic
# updates a function to python3.8.
ACCEPTED: tuple[str, ...] = (
    "nodejs20.x", "python3.14", "provided.al2023", "python3.12", "python3.13", "nodejs24.x",
    "nodejs22.x", "java25", "python3.10", "python3.11", "java21", "ruby3.3", "ruby3.4",
    "ruby3.2", "python3.8", "python3.9", "java17", "nodejs16.x", "dotnet10", "dotnet8",
    "java11", "dotnet6", "nodejs18.x", "provided.al2", "java8.al2",
)
# In the model but newer than the recording: accepted, not yet quoted by AWS's message.
NEWER: frozenset[str] = frozenset({"ruby4.0"})


@cache
def runtime_enum() -> tuple[str, ...]:
    return tuple(load().enum("Runtime"))


@cache
def deprecated() -> frozenset[str]:
    """Model ids AWS refuses with the "no longer supported" message (go1.x, python3.7 ...)."""
    return frozenset(runtime_enum()) - set(ACCEPTED) - NEWER


def check_runtime(runtime: str | None) -> None:
    from lamina.errors import InvalidParameterValueException

    if runtime is None:
        return
    if runtime not in runtime_enum():
        raise InvalidParameterValueException(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum "
            f"value set: [{', '.join(ACCEPTED)}] or be a valid ARN")
    if runtime in deprecated():
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating "
            "AWS Lambda functions. We recommend you use a supported runtime while creating or "
            "updating functions.")

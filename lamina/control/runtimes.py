"""Which runtime ids CreateFunction/UpdateFunctionConfiguration accept, with AWS's errors."""

from __future__ import annotations

from functools import cache

from lamina.model import load

# Ids still in the model's enum that AWS no longer accepts for new or updated functions.
DEPRECATED = frozenset({
    "nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x",
    "nodejs16.x", "nodejs18.x", "nodejs4.3-edge", "java8", "python2.7", "python3.6", "python3.7",
    "python3.8", "python3.9", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1",
    "dotnet6", "go1.x", "ruby2.5", "ruby2.7", "ruby3.2", "provided",
})


@cache
def runtime_enum() -> tuple[str, ...]:
    return tuple(load().enum("Runtime"))


def check_runtime(runtime: str | None) -> None:
    from lamina.errors import InvalidParameterValueException

    if runtime is None:
        return
    if runtime not in runtime_enum():
        raise InvalidParameterValueException(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum "
            f"value set: [{', '.join(runtime_enum())}] or be a valid ARN")
    if runtime in DEPRECATED:
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating "
            "AWS Lambda functions. We recommend you use a supported runtime while creating or "
            "updating functions.")

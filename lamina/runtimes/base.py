"""What a runtime is: data plus a bootstrap.

Each runtime family (python, nodejs, java, dotnet, ruby, provided) is one module in
this package exposing a `RuntimeFamily`. `lamina.runtimes.registry` maps every AWS
runtime id to its family and to an interpreter installed on this host.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path

from lamina.sandbox.base import Mount


@dataclass(frozen=True)
class LaunchContext:
    """What the pool knows when it starts an environment for a function version."""

    runtime_id: str          # e.g. "python3.12", "provided.al2023"
    handler: str             # the function's Handler (may be empty for provided)
    code_dir: Path           # host folder shown at /var/task
    opt_dir: Path | None     # host folder shown at /opt (merged layers), or None


@dataclass(frozen=True)
class Launch:
    """How to start the runtime inside the sandbox.

    `env` is merged over the AWS environment the pool builds (PATH, LD_LIBRARY_PATH,
    PYTHONPATH, NODE_PATH ... go here). `mounts` are host paths the runtime needs
    (its interpreter, its bootstrap folder), shown read-only.
    """

    argv: list[str]
    env: dict[str, str]
    mounts: tuple[Mount, ...] = ()
    runtime_dir: Path | None = None   # shown read-only at /var/runtime


class RuntimeFamily(abc.ABC):
    """One language family. Stateless; constructed once with the host settings."""

    name: str

    @abc.abstractmethod
    def runtime_ids(self) -> tuple[str, ...]:
        """The AWS runtime ids this family serves."""

    @abc.abstractmethod
    def launch(self, ctx: LaunchContext) -> Launch:
        """How to start an environment; raises LaunchError if the host lacks the runtime."""


class LaunchError(Exception):
    """The host cannot start this runtime (interpreter missing, bad handler ...)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message

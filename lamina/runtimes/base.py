"""What a runtime is: data plus a bootstrap.

Each runtime family (python, nodejs, java, dotnet, ruby, provided) is one module in
this package exposing a `RuntimeFamily`. `lamina.runtimes.registry` maps every AWS
runtime id to its family and to an interpreter installed on this host.
"""

from __future__ import annotations

import abc
import os
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


# Paths the sandbox already owns; an interpreter may not be mounted over them.
RESERVED = ("/var/task", "/var/runtime", "/opt", "/tmp")


def sandbox_interpreter(binary: Path) -> tuple[str, tuple[Mount, ...]]:
    """argv[0] and the mounts that make host `binary` runnable inside the sandbox.

    Binaries that resolve (through symlinks) to /usr are visible already.
    Otherwise the install prefix of the resolved binary (`<prefix>/bin/<exe>`
    -> `<prefix>`, else its folder) is shown at its host path, so interpreters
    with compiled-in paths (Ruby's stdlib location, for one) keep working.
    Raises LaunchError when that prefix overlaps a folder the sandbox owns.
    """
    real = Path(os.path.realpath(binary))
    if real.is_relative_to("/usr"):
        # Keep a /usr symlink as given (alternatives resolve through /etc, which is shown).
        return (str(binary) if binary.is_relative_to("/usr") else str(real)), ()
    prefix = real.parent.parent if real.parent.name == "bin" else real.parent
    for reserved in RESERVED:
        if prefix.is_relative_to(reserved) or Path(reserved).is_relative_to(prefix):
            raise LaunchError("Runtime.Unavailable",
                              f"interpreter {binary} lives under {prefix}, which overlaps {reserved}")
    return str(real), (Mount(source=prefix, target=str(prefix)),)

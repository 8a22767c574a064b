"""The `SandboxBackend` interface: how one execution environment's process tree is run.

A sandbox knows nothing about the Lambda API. It is given a `SandboxSpec` (what to
run, which host folders appear where, how much memory) and hands back a `Sandbox`
handle. The pool owns every sandbox it starts and must call `destroy()` exactly
once; `destroy()` is idempotent and safe after the process already died.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Mount:
    """A host path shown read-only at `target` inside the sandbox."""

    source: Path
    target: str


@dataclass(frozen=True)
class SandboxSpec:
    """Everything a backend needs to start one environment.

    `argv[0]` is resolved inside the sandbox. `stdout_fd` receives both stdout and
    stderr of the whole process tree (the caller owns the fd; backends dup it).
    `code_dir` appears read-only at /var/task, `opt_dir` (if any) read-only at /opt,
    `runtime_dir` (if any) read-only at /var/runtime; `/tmp` is private, writable
    and limited to `tmp_size_mb`. `mounts` are extra read-only host paths
    (interpreters installed outside /usr, for example).
    """

    env_id: str
    argv: list[str]
    env: dict[str, str]
    code_dir: Path
    tmp_dir: Path
    tmp_size_mb: int
    memory_mb: int
    stdout_fd: int
    opt_dir: Path | None = None
    runtime_dir: Path | None = None
    mounts: tuple[Mount, ...] = ()
    cwd: str = "/var/task"
    max_processes: int = 1024
    max_open_files: int = 1024
    extra: dict[str, str] = field(default_factory=dict)


class Sandbox(abc.ABC):
    """A running process tree. All methods are safe to call after it died."""

    pid: int

    @abc.abstractmethod
    async def wait(self) -> int:
        """Wait for the root process to exit; returns its exit code, or -signal."""

    @abc.abstractmethod
    def returncode(self) -> int | None:
        """The exit status if the root process has exited, else None."""

    @abc.abstractmethod
    def memory_peak_mb(self) -> int:
        """Peak memory of the whole tree so far, in MB (best effort, >= 1)."""

    @abc.abstractmethod
    def reset_peak(self) -> None:
        """Start a new peak-measuring period (called at the start of each invoke)."""

    def pids(self) -> list[int]:
        """Host pids of the sandbox's processes now; empty when the backend cannot tell."""
        return []

    def init_done(self) -> None:  # noqa: B027 - optional for backends without CPU limits
        """Init is over: apply the CPU limit (Init runs with full CPU, as on AWS)."""

    def set_limits(self, memory_mb: int, *, standby: bool = False) -> bool:
        """Change the memory limit (and the CPU share that follows it) of the running
        sandbox to those of a `memory_mb` function, CPU uncapped until `init_done()`;
        `standby`: CPU only when nobody else wants it (a pre-warmed runtime). False
        if this backend cannot change limits after the start; OSError if the tree
        already uses more than `memory_mb`."""
        return False

    @abc.abstractmethod
    def oom_killed(self) -> bool:
        """True if the kernel killed something in this sandbox for exceeding its memory."""

    @abc.abstractmethod
    async def destroy(self) -> None:
        """Kill every process of the sandbox and release its resources. Idempotent."""


class SandboxBackend(abc.ABC):
    """Starts sandboxes. One instance per server; chosen in `lamina.sandbox.auto`."""

    name: str = "abstract"
    isolated: bool = True

    @abc.abstractmethod
    async def start(self, spec: SandboxSpec) -> Sandbox:
        """Start `spec.argv` inside a new sandbox and return at once (no readiness wait)."""

    async def release_tmp(self, tmp_dir: Path) -> None:  # noqa: B027 - optional hook
        """Discard the /tmp at `tmp_dir` for good (unmount what `start` put there).

        /tmp outlives a sandbox (AWS keeps it across restarts of one environment), so
        the pool calls this once when the environment itself goes away, after its
        last sandbox was destroyed. The folder itself stays the caller's to delete.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release backend-wide resources (cgroup parents, helper processes)."""

"""The cgroups contract (`Cgroups`, `Group`), CPU arithmetic and shared file helpers.

`detect()` (in this package's __init__) picks the implementation once per server.
`Cgroups.create()` makes one `Group` per sandbox under a shared parent (default
`lamina`, at the root of each hierarchy). The caller owns the group: it must
`kill_all()` until it returns 0 and then `remove()` it; `Cgroups.close()` removes
the parent if no group is left.

Limits follow AWS Lambda: memory = MemorySize with swap disabled, CPU in proportion
to memory (1,769 MB = one vCPU, capped at the host's cores), a pids limit.
CPU has two modes: "quota" (a hard cap, as on AWS: a 128 MB function gets 7% of a
core, so a Python start that needs 40 ms of CPU takes ~0.6 s) and "weight" (the
same proportion as a share that only applies when the CPU is contended; idle
cores are used freely, which makes cold starts fast).

A process joins a group either from the parent (`attach(pid)`, used by bwrap while
the child is blocked before exec) or from the child itself (`join_self()`, used as
a pre-exec hook), so no code of the function ever runs outside its limits.
"""

from __future__ import annotations

import abc
import errno
import os
import signal
from pathlib import Path

MB = 1024 * 1024
MB_PER_VCPU = 1769          # AWS: "at 1,769 MB, a function has the equivalent of one vCPU"
CPU_PERIOD_US = 100_000
MIN_CPU_QUOTA_US = 1_000    # the kernel refuses quotas below 1 ms


def cpu_quota_us(memory_mb: int, cores: int, period_us: int = CPU_PERIOD_US,
                 mb_per_vcpu: int = MB_PER_VCPU) -> int:
    """CFS quota per `period_us` for a function of `memory_mb`, capped at `cores` CPUs."""
    quota = period_us * memory_mb // mb_per_vcpu
    return max(MIN_CPU_QUOTA_US, min(quota, period_us * max(1, cores)))


STANDBY_SHARE = 2           # v1 cpu.shares of a pre-warmed sandbox (v2 cpu.weight: 1)


def cpu_share(memory_mb: int, full: int, low: int, high: int,
              mb_per_vcpu: int = MB_PER_VCPU) -> int:
    """A relative CPU weight in proportion to memory: `full` is one vCPU's worth
    (v1 cpu.shares: 1024, v2 cpu.weight: 100), clamped to the kernel's range."""
    return max(low, min(high, full * memory_mb // mb_per_vcpu))


def host_cores() -> int:
    return len(os.sched_getaffinity(0))


class Group(abc.ABC):
    """One sandbox's limits. Methods never raise for a process that already exited."""

    needs_polling = False   # True: call poll() periodically to track peak memory

    @abc.abstractmethod
    def attach(self, pid: int) -> None:
        """Put `pid` (not yet running function code) under these limits."""

    @abc.abstractmethod
    def join_self(self) -> None:
        """Put the calling process under these limits (for a pre-exec hook)."""

    def adopt(self, pid: int) -> None:  # noqa: B027 - only `none` needs it
        """Tell the parent side that `pid` joined by itself (`join_self`)."""

    # (file, value) that caps the CPU once Init is over; None when not capping (weight mode).
    cpu_cap: tuple[Path, str] | None = None

    def limit_cpu(self) -> None:
        """Apply the CPU cap. Init runs uncapped, as on AWS, which gives Init a CPU boost."""
        if self.cpu_cap is not None:
            try:
                write_file(*self.cpu_cap)
            except (OSError, ProcessLookupError):
                pass

    def set_limits(self, memory_mb: int, *, standby: bool = False) -> None:
        """Re-apply the limits of a `memory_mb` function, as `Cgroups.create` does, to a
        group whose processes already run (a pre-warmed sandbox being assigned): the
        memory cap, and the CPU left uncapped until `limit_cpu()` with the cap of
        `memory_mb` ready. `standby`: the group only gets CPU nobody else wants (a
        runtime warming up ahead of demand must not slow running invocations down).
        Lowering the memory cap below what the group uses fails (OSError)."""
        raise NotImplementedError(f"{type(self).__name__} cannot change its limits")

    @abc.abstractmethod
    def memory_peak_bytes(self) -> int:
        """Peak memory since creation or the last `reset_peak()`."""

    @abc.abstractmethod
    def reset_peak(self) -> None:
        """Start a new peak-measuring period."""

    def poll(self) -> None:  # noqa: B027 - only for needs_polling
        """Sample current usage (implementations whose peak cannot be reset)."""

    @abc.abstractmethod
    def oom_kills(self) -> int:
        """How many processes the kernel killed here for exceeding the memory limit."""

    def pids(self) -> list[int]:
        """The processes in this group now (empty when it cannot tell)."""
        return []

    @abc.abstractmethod
    def kill_all(self) -> int:
        """SIGKILL every process found in the group; returns how many were found."""

    @abc.abstractmethod
    def remove(self) -> bool:
        """Delete the group; False while processes are still exiting (retry)."""


class Cgroups(abc.ABC):
    """Makes groups. One instance per server."""

    name = "abstract"

    @abc.abstractmethod
    def create(self, name: str, memory_mb: int, max_processes: int = 1024) -> Group:
        """A fresh group; a stale one of the same name (from a crash) is killed first."""

    def close(self) -> None:  # noqa: B027 - optional
        """Remove the parent group(s) if empty. Safe to call twice."""


def write_file(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def read_int(path: Path, default: int = 0) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def keyed_value(path: Path, key: str) -> int:
    """The value of `key` in a flat keyed file such as memory.events."""
    try:
        for line in path.read_text().splitlines():
            k, _, v = line.partition(" ")
            if k == key:
                return int(v)
    except (OSError, ValueError):
        pass
    return 0


def listed_pids(procs_file: Path) -> list[int]:
    try:
        return [int(p) for p in procs_file.read_text().split()]
    except OSError:
        return []


def kill_listed(procs_file: Path) -> int:
    try:
        pids = [int(p) for p in procs_file.read_text().split()]
    except OSError:
        return 0
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)


def rmdir_group(path: Path) -> bool:
    try:
        path.rmdir()
    except FileNotFoundError:
        return True
    except OSError as exc:
        if exc.errno in (errno.EBUSY, errno.ENOTEMPTY):
            return False
        raise
    return True


def fresh_dir(path: Path, procs: str) -> None:
    """mkdir `path`; if a stale group is there, empty and recreate it."""
    try:
        path.mkdir()
        return
    except FileExistsError:
        pass
    for _ in range(200):
        kill_listed(path / procs)
        if rmdir_group(path):
            break
        os.sched_yield()
    path.mkdir()


def check_cpu_mode(mode: str) -> str:
    if mode not in ("quota", "weight"):
        raise ValueError(f"cpu_mode must be 'quota' or 'weight', not {mode!r}")
    return mode


def safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".")
    if not cleaned:
        raise ValueError(f"bad cgroup name {name!r}")
    return cleaned



"""No usable cgroups: rlimits on the sandbox's first process, /proc for memory."""

from __future__ import annotations

import os
import resource
import signal
from pathlib import Path

from lamina.sandbox.cgroups.base import MB, Cgroups, Group, write_file


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(c) for c in f.read().split())
    except (OSError, ValueError):
        pass
    return out


def _status_value(pid: int, key: str) -> int:
    """The first number after `key` in /proc/pid/status (kB for Vm* keys)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class GroupNone(Group):
    """rlimits instead of a cgroup: a best effort for hosts without usable cgroups.

    RLIMIT_DATA (not RLIMIT_AS) caps memory: V8, the JVM and Go reserve gigabytes of
    address space they never touch, so an address-space cap at MemorySize would stop
    them from starting. RLIMIT_NPROC counts every process of a uid, so it is set
    only when the sandbox runs under a uid other than the server's (and not root,
    which ignores it); it then caps all sandboxes of that uid together. The kernel
    does not kill on RLIMIT_DATA (allocations fail), so `oom_kills()` is always 0.
    """

    def __init__(self, memory_mb: int, max_processes: int) -> None:
        self.memory = memory_mb * MB
        self.max_processes = max_processes
        self.roots: list[int] = []
        self.server_uid = os.getuid()

    def _limits(self, uid: int) -> list[tuple[int, int]]:
        limits = [(resource.RLIMIT_DATA, self.memory)]
        if uid not in (0, self.server_uid):
            limits.append((resource.RLIMIT_NPROC, self.max_processes))
        return limits

    def attach(self, pid: int) -> None:
        self.roots.append(pid)
        uid = _status_value(pid, "Uid:")   # first field of "Uid:" is the real uid
        for res, value in self._limits(uid):
            try:
                resource.prlimit(pid, res, (value, value))
            except ProcessLookupError:
                return

    def adopt(self, pid: int) -> None:
        self.roots.append(pid)

    def set_limits(self, memory_mb: int, *, standby: bool = False) -> None:
        # Only the first process's RLIMIT_DATA (its children inherited the old one).
        self.memory = memory_mb * MB
        for pid in self.roots:
            try:
                resource.prlimit(pid, resource.RLIMIT_DATA, (self.memory, self.memory))
            except ProcessLookupError:
                pass

    def join_self(self) -> None:
        for res, value in self._limits(os.getuid()):
            resource.setrlimit(res, (value, value))

    def _tree(self) -> list[int]:
        seen, todo = [], list(self.roots)
        while todo:
            pid = todo.pop()
            seen.append(pid)
            todo.extend(_children(pid))
        return seen

    def memory_peak_bytes(self) -> int:
        # Sum of per-process peaks: an upper bound of the tree's true peak.
        return sum(_status_value(pid, "VmHWM:") for pid in self._tree()) * 1024

    def reset_peak(self) -> None:
        for pid in self._tree():
            try:
                write_file(Path(f"/proc/{pid}/clear_refs"), "5")   # 5 = reset VmHWM
            except OSError:
                pass

    def oom_kills(self) -> int:
        return 0

    def pids(self) -> list[int]:
        return [p for p in self._tree() if os.path.exists(f"/proc/{p}")]

    def kill_all(self) -> int:
        tree = [p for p in self._tree() if os.path.exists(f"/proc/{p}")]
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.roots = []   # pids may be reused once reaped: never touch them again
        return 0

    def remove(self) -> bool:
        return True


class NoCgroups(Cgroups):
    name = "none"

    def create(self, name: str, memory_mb: int, max_processes: int = 1024) -> Group:
        return GroupNone(memory_mb, max_processes)

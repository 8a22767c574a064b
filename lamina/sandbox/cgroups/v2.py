"""cgroup v2 (unified): one directory under the parent, controllers enabled top-down."""

from __future__ import annotations

import os
from pathlib import Path

from lamina.sandbox.cgroups.base import (
    CPU_PERIOD_US,
    MB,
    Cgroups,
    Group,
    check_cpu_mode,
    cpu_quota_us,
    cpu_share,
    fresh_dir,
    host_cores,
    keyed_value,
    kill_listed,
    listed_pids,
    read_int,
    rmdir_group,
    safe_name,
    write_file,
)


class GroupV2(Group):
    def __init__(self, path: Path, controllers: set[str] | None = None, cpu_mode: str = "quota",
                 cores: int = 1) -> None:
        self.path = path
        self._peak_fd: int | None = None    # memory.peak opened for per-fd reset (6.12+)
        self._polled = 0
        self.needs_polling = False
        self.controllers = controllers if controllers is not None else {"memory"}
        self.cpu_mode = cpu_mode
        self.cores = cores

    def set_limits(self, memory_mb: int, *, standby: bool = False) -> None:
        write_file(self.path / "memory.max", str(memory_mb * MB))
        try:
            write_file(self.path / "memory.swap.max", "0")
        except FileNotFoundError:   # no swap accounting: nothing to disable
            pass
        if "cpu" not in self.controllers:
            return
        if self.cpu_mode == "quota":
            write_file(self.path / "cpu.max", f"max {CPU_PERIOD_US}")     # uncapped during Init
            self.cpu_cap = (self.path / "cpu.max",
                            f"{cpu_quota_us(memory_mb, self.cores)} {CPU_PERIOD_US}")
            weight = 100                                                  # the kernel's default
        else:
            weight = cpu_share(memory_mb, 100, 1, 10000)
        write_file(self.path / "cpu.weight", "1" if standby else str(weight))

    def attach(self, pid: int) -> None:
        try:
            write_file(self.path / "cgroup.procs", str(pid))
        except ProcessLookupError:   # already dead: nothing left to limit
            pass

    def join_self(self) -> None:
        self.attach(os.getpid())

    def memory_peak_bytes(self) -> int:
        if self._peak_fd is not None:
            try:
                return int(os.pread(self._peak_fd, 64, 0).split()[0])
            except (OSError, ValueError, IndexError):
                return 0
        if self.needs_polling:
            self.poll()
            return self._polled
        return read_int(self.path / "memory.peak")

    def reset_peak(self) -> None:
        # Since Linux 6.12 writing to memory.peak resets the peak *seen through that
        # open file*; keep the fd. Older kernels refuse the write (or lack the file):
        # then track the maximum of memory.current by polling.
        if self._peak_fd is None and not self.needs_polling:
            try:
                self._peak_fd = os.open(self.path / "memory.peak", os.O_RDWR | os.O_CLOEXEC)
            except OSError:
                self._peak_fd = None
        if self._peak_fd is not None:
            try:
                os.write(self._peak_fd, b"reset\n")
                return
            except OSError:
                os.close(self._peak_fd)
                self._peak_fd = None
        self.needs_polling = True
        self._polled = read_int(self.path / "memory.current")

    def poll(self) -> None:
        self._polled = max(self._polled, read_int(self.path / "memory.current"))

    def oom_kills(self) -> int:
        return keyed_value(self.path / "memory.events", "oom_kill")

    def pids(self) -> list[int]:
        return listed_pids(self.path / "cgroup.procs")

    def kill_all(self) -> int:
        try:
            count = len((self.path / "cgroup.procs").read_text().split())
        except OSError:
            return 0
        if count:
            try:
                write_file(self.path / "cgroup.kill", "1")    # atomic, Linux 5.14+
            except OSError:
                kill_listed(self.path / "cgroup.procs")
        return count

    def remove(self) -> bool:
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None
        return rmdir_group(self.path)


class CgroupsV2(Cgroups):
    name = "v2"
    CONTROLLERS = ("memory", "cpu", "pids")

    def __init__(self, root: Path, parent: str = "lamina",
                 available: set[str] | None = None, *, cpu_mode: str = "quota") -> None:
        self.cpu_mode = check_cpu_mode(cpu_mode)
        if available is None:
            available = set((root / "cgroup.controllers").read_text().split())
        wanted = " ".join(f"+{c}" for c in self.CONTROLLERS if c in available)
        self.parent = root / parent
        self.parent.mkdir(parents=True, exist_ok=True)
        # Enable the controllers on every level from the root down to our parent.
        node = root
        for part in Path(parent).parts:
            write_file(node / "cgroup.subtree_control", wanted)
            node = node / part
        write_file(self.parent / "cgroup.subtree_control", wanted)
        self.controllers = {c for c in self.CONTROLLERS if c in available}
        self.cores = host_cores()

    def create(self, name: str, memory_mb: int, max_processes: int = 1024) -> Group:
        path = self.parent / safe_name(name)
        fresh_dir(path, "cgroup.procs")
        group = GroupV2(path, self.controllers, self.cpu_mode, self.cores)
        try:
            group.set_limits(memory_mb)
            if "pids" in self.controllers:
                write_file(path / "pids.max", str(max_processes))
        except BaseException:
            group.remove()
            raise
        return group

    def close(self) -> None:
        rmdir_group(self.parent)

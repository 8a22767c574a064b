"""cgroup v1: one directory in each of the memory, cpu and pids hierarchies."""

from __future__ import annotations

import os
from pathlib import Path

from lamina.sandbox.cgroups.base import (
    CPU_PERIOD_US,
    MB,
    STANDBY_SHARE,
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


class GroupV1(Group):
    """memory + cpu + pids hierarchies (whichever exist), one directory in each."""

    def __init__(self, dirs: dict[str, Path], cpu_mode: str = "quota", cores: int = 1) -> None:
        self.dirs = dirs
        self._mem = dirs["memory"]
        self.cpu_mode = cpu_mode
        self.cores = cores

    def set_limits(self, memory_mb: int, *, standby: bool = False) -> None:
        mem, limit = self._mem, memory_mb * MB
        files = [mem / "memory.limit_in_bytes"]
        memsw = mem / "memory.memsw.limit_in_bytes"     # needs swapaccount=1
        if memsw.exists():
            # memsw may never be below the memory limit: lower the limit first, raise it last.
            files.append(memsw)
            if limit > read_int(files[0]):
                files.reverse()
        else:
            write_file(mem / "memory.swappiness", "0")
        for path in files:
            write_file(path, str(limit))
        cpu = self.dirs.get("cpu")
        if cpu is None:
            return
        if self.cpu_mode == "quota":
            write_file(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            write_file(cpu / "cpu.cfs_quota_us", "-1")        # uncapped during Init
            self.cpu_cap = (cpu / "cpu.cfs_quota_us", str(cpu_quota_us(memory_mb, self.cores)))
            share = 1024                                      # the kernel's default
        else:
            share = cpu_share(memory_mb, 1024, 2, 262144)
        write_file(cpu / "cpu.shares", str(STANDBY_SHARE if standby else share))

    def attach(self, pid: int) -> None:
        for d in self.dirs.values():
            try:
                write_file(d / "cgroup.procs", str(pid))
            except ProcessLookupError:   # already dead: nothing left to limit
                return

    def join_self(self) -> None:
        self.attach(os.getpid())

    def memory_peak_bytes(self) -> int:
        return read_int(self._mem / "memory.max_usage_in_bytes")

    def reset_peak(self) -> None:
        try:
            write_file(self._mem / "memory.max_usage_in_bytes", "0")
        except OSError:
            pass

    def oom_kills(self) -> int:
        # "oom_kill N" exists since Linux 4.13; failcnt alone also counts reclaims.
        return keyed_value(self._mem / "memory.oom_control", "oom_kill")

    def pids(self) -> list[int]:
        return listed_pids(self._mem / "cgroup.procs")

    def kill_all(self) -> int:
        return max(kill_listed(d / "cgroup.procs") for d in self.dirs.values())

    def remove(self) -> bool:
        return all([rmdir_group(d) for d in self.dirs.values()])


class CgroupsV1(Cgroups):
    name = "v1"
    CONTROLLERS = ("memory", "cpu", "pids")

    def __init__(self, mounts: dict[str, Path], parent: str = "lamina", *,
                 cpu_mode: str = "quota") -> None:
        self.cpu_mode = check_cpu_mode(cpu_mode)
        self.parents = {c: mounts[c] / parent for c in self.CONTROLLERS if c in mounts}
        for p in self.parents.values():
            p.mkdir(parents=True, exist_ok=True)   # raises PermissionError when not root
        self.cores = host_cores()

    def create(self, name: str, memory_mb: int, max_processes: int = 1024) -> Group:
        dirs = {c: p / safe_name(name) for c, p in self.parents.items()}
        for d in dirs.values():
            fresh_dir(d, "cgroup.procs")
        group = GroupV1(dirs, self.cpu_mode, self.cores)
        try:
            group.set_limits(memory_mb)
            if "pids" in dirs:
                write_file(dirs["pids"] / "pids.max", str(max_processes))
        except BaseException:
            group.remove()
            raise
        return group

    def close(self) -> None:
        for p in self.parents.values():
            rmdir_group(p)

"""Resource limits for one sandbox: cgroup v2, cgroup v1, or rlimits (`none`).

`detect()` picks the implementation once per server; see `base` for the contract.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from lamina.sandbox.cgroups.base import (
    CPU_PERIOD_US,
    MB,
    MB_PER_VCPU,
    Cgroups,
    Group,
    cpu_quota_us,
    cpu_share,
    host_cores,
)
from lamina.sandbox.cgroups.none import GroupNone, NoCgroups
from lamina.sandbox.cgroups.v1 import CgroupsV1, GroupV1
from lamina.sandbox.cgroups.v2 import CgroupsV2, GroupV2

log = logging.getLogger("lamina.sandbox")

__all__ = [
    "CPU_PERIOD_US", "MB", "MB_PER_VCPU", "CgroupMounts", "Cgroups", "CgroupsV1", "CgroupsV2",
    "Group", "GroupNone", "GroupV1", "GroupV2", "NoCgroups", "choose_version", "cpu_quota_us",
    "cpu_share", "detect", "host_cores", "parse_mountinfo",
]


@dataclass(frozen=True)
class CgroupMounts:
    """Where the cgroup hierarchies are mounted, as read from /proc/self/mountinfo."""

    unified: str | None = None                          # the cgroup2 mount point
    v1: dict[str, str] = field(default_factory=dict)    # v1 controller -> mount point


def _unescape(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo (octal).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def parse_mountinfo(text: str) -> CgroupMounts:
    """Find the cgroup mounts in mountinfo text (see proc(5)); pure, for tests.

    Only mounts of a hierarchy's root (field 4 == "/") count: a bind of a sub-group
    (as inside a container without a cgroup namespace) cannot hold our parent.
    """
    unified: str | None = None
    v1: dict[str, str] = {}
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        fields, tail = pre.split(), post.split()
        if len(fields) < 5 or len(tail) < 3 or fields[3] != "/":
            continue
        mount_point, fstype, super_opts = _unescape(fields[4]), tail[0], tail[2]
        if fstype == "cgroup2":
            unified = unified or mount_point
        elif fstype == "cgroup":
            for opt in super_opts.split(","):
                if opt in ("memory", "cpu", "pids", "cpuacct", "freezer"):
                    v1.setdefault(opt, mount_point)
    return CgroupMounts(unified=unified, v1=v1)


def choose_version(mounts: CgroupMounts, v2_controllers: set[str]) -> str:
    """"v2" if the unified hierarchy has the memory controller, else "v1" if a v1
    memory hierarchy exists, else "none". Hybrid hosts (v2 mounted but controllers
    bound to v1, as systemd's hybrid mode does) therefore get v1."""
    if mounts.unified and "memory" in v2_controllers:
        return "v2"
    if "memory" in mounts.v1:
        return "v1"
    return "none"


def detect(parent: str = "lamina", mountinfo: str = "/proc/self/mountinfo",
           cpu_mode: str = "quota") -> Cgroups:
    """The best usable implementation on this host; falls back to `NoCgroups`."""
    try:
        mounts = parse_mountinfo(Path(mountinfo).read_text())
    except OSError:
        mounts = CgroupMounts()
    controllers: set[str] = set()
    if mounts.unified:
        try:
            controllers = set(Path(mounts.unified, "cgroup.controllers").read_text().split())
        except OSError:
            pass
    version = choose_version(mounts, controllers)
    try:
        if version == "v2" and mounts.unified:
            return CgroupsV2(Path(mounts.unified), parent, controllers, cpu_mode=cpu_mode)
        if version == "v1":
            return CgroupsV1({c: Path(p) for c, p in mounts.v1.items()}, parent,
                             cpu_mode=cpu_mode)
    except OSError as exc:  # not root, read-only cgroupfs, no delegation ...
        log.warning("cgroup %s unusable (%s); falling back to rlimits", version, exc)
    return NoCgroups()

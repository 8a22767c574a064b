"""Pure logic of lamina.sandbox.cgroups: CPU arithmetic, mountinfo parsing, choice.

No processes and no kernel: the cgroup v1 implementation is exercised for real by
tests/integration/test_sandbox.py; v2 cannot be on the development host (hybrid,
controllers bound to v1), so `test_v2_writes_files` only checks which files
CgroupsV2 writes, against a plain directory standing in for cgroupfs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.sandbox.cgroups import (
    CPU_PERIOD_US,
    CgroupMounts,
    CgroupsV2,
    choose_version,
    cpu_quota_us,
    cpu_share,
    parse_mountinfo,
)

# /proc/self/mountinfo of the development host: Debian 12 in a VM, hybrid layout.
HYBRID = """\
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334492k,nr_inodes=3083623,mode=755
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

# A systemd host in unified mode (Debian 11+, Ubuntu 21.10+, Fedora 31+).
UNIFIED = """\
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
26 25 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 \
rw,nsdelegate,memory_recursiveprot
"""

# Classic v1 with cpu and cpuacct co-mounted (CentOS 7, Ubuntu 18.04).
LEGACY = """\
25 18 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
29 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup \
cgroup rw,cpu,cpuacct
33 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup \
rw,memory
35 25 0:31 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
"""

# Inside a container without a cgroup namespace: sub-groups bound, not roots.
CONTAINER = """\
700 690 0:32 /docker/0123abcd /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
701 690 0:38 /docker/0123abcd /sys/fs/cgroup/unified ro,nosuid - cgroup2 cgroup2 rw
"""


def test_cpu_quota_is_proportional_to_memory() -> None:
    assert cpu_quota_us(1769, cores=8) == CPU_PERIOD_US           # one vCPU
    assert cpu_quota_us(3538, cores=8) == 2 * CPU_PERIOD_US
    assert cpu_quota_us(128, cores=8) == 7235                     # 7.2 % of a core
    assert cpu_quota_us(10240, cores=8) == 578858                 # 5.8 vCPUs at the max size


def test_cpu_quota_is_capped_at_host_cores_and_kernel_minimum() -> None:
    assert cpu_quota_us(10240, cores=2) == 2 * CPU_PERIOD_US
    assert cpu_quota_us(10240, cores=0) == CPU_PERIOD_US          # never below one core's cap
    assert cpu_quota_us(1, cores=2) == 1000                       # the kernel refuses < 1 ms


def test_cpu_share_is_proportional_and_clamped() -> None:
    assert cpu_share(1769, 1024, 2, 262144) == 1024               # v1 cpu.shares
    assert cpu_share(1769, 100, 1, 10000) == 100                  # v2 cpu.weight
    assert cpu_share(128, 100, 1, 10000) == 7
    assert cpu_share(1, 100, 1, 10000) == 1
    assert cpu_share(10**9, 100, 1, 10000) == 10000


def test_parse_hybrid() -> None:
    m = parse_mountinfo(HYBRID)
    assert m.unified == "/sys/fs/cgroup/unified"
    assert m.v1["memory"] == "/sys/fs/cgroup/memory"
    assert m.v1["cpu"] == "/sys/fs/cgroup/cpu"
    assert m.v1["pids"] == "/sys/fs/cgroup/pids"
    assert "name=systemd" not in m.v1 and "cpuset" not in m.v1


def test_parse_unified() -> None:
    assert parse_mountinfo(UNIFIED) == CgroupMounts(unified="/sys/fs/cgroup", v1={})


def test_parse_legacy_comounted_and_escaped() -> None:
    m = parse_mountinfo(LEGACY)
    assert m.unified is None
    assert m.v1["cpu"] == m.v1["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct"
    escaped = "40 31 0:32 / /mnt/my\\040cgroups rw - cgroup cgroup rw,memory\n"
    assert parse_mountinfo(escaped).v1["memory"] == "/mnt/my cgroups"


def test_parse_ignores_bound_subgroups_and_garbage() -> None:
    assert parse_mountinfo(CONTAINER) == CgroupMounts()
    assert parse_mountinfo("nonsense\n\n1 2 3\n") == CgroupMounts()


@pytest.mark.parametrize(
    ("text", "v2_controllers", "expected"),
    [
        (UNIFIED, {"cpuset", "cpu", "io", "memory", "pids"}, "v2"),
        (HYBRID, {"hugetlb"}, "v1"),             # this host: unified has no memory
        (HYBRID, {"memory", "pids"}, "v2"),      # hybrid with memory moved to v2
        (LEGACY, set(), "v1"),
        (UNIFIED, {"cpu", "pids"}, "none"),      # memory not delegated to us
        (CONTAINER, set(), "none"),
        ("", set(), "none"),
    ],
)
def test_choose_version(text: str, v2_controllers: set[str], expected: str) -> None:
    assert choose_version(parse_mountinfo(text), v2_controllers) == expected


def test_v2_writes_files(tmp_path: Path) -> None:
    """Which files CgroupsV2 writes (a plain directory, NOT a kernel: see module doc)."""
    cg = CgroupsV2(tmp_path, "lamina", {"cpu", "memory", "pids", "io"})
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    assert (tmp_path / "lamina" / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    (tmp_path / "lamina" / "env-1").mkdir()    # stale group from a crash: recreated
    group = cg.create("env-1", 512, 64)
    g = tmp_path / "lamina" / "env-1"
    assert (g / "memory.max").read_text() == str(512 * 1024 * 1024)
    assert (g / "memory.swap.max").read_text() == "0"
    assert (g / "cpu.max").read_text() == "max 100000", "Init runs uncapped"
    group.limit_cpu()
    assert (g / "cpu.max").read_text() == f"{cpu_quota_us(512, cg.cores)} 100000"
    assert (g / "pids.max").read_text() == "64"
    weighted = CgroupsV2(tmp_path, "lamina-w", {"cpu", "memory"}, cpu_mode="weight")
    weighted.create("env-2", 1769, 64)
    w = tmp_path / "lamina-w" / "env-2"
    assert (w / "cpu.weight").read_text() == "100"
    assert not (w / "pids.max").exists()        # no pids controller offered
    with pytest.raises(ValueError):
        CgroupsV2(tmp_path, "x", {"memory"}, cpu_mode="fast")

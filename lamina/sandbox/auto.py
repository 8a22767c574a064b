"""The one place a `SandboxBackend` is chosen, from the `sandbox` setting.

Names: "bwrap", "process", and "auto" (bwrap if it works on this host, else
process with its no-isolation warning). A new backend (the coming "ray" one) is one
more entry in `BACKENDS`: a function taking the options of `make_backend`
(cgroup_parent, cpu_mode, state_dir) and returning a backend.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from lamina.sandbox.base import SandboxBackend
from lamina.sandbox.cgroups import detect

log = logging.getLogger("lamina.sandbox")


@functools.cache
def bwrap_usable(bwrap: str | None = None) -> bool:
    """True if bubblewrap can create namespaces here (checked by running it once)."""
    path = bwrap or shutil.which("bwrap")
    if path is None:
        return False
    try:
        res = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-pid", "true"],
                             capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    if res.returncode != 0:
        log.info("bwrap unusable: %s", res.stderr.decode(errors="replace").strip())
    return res.returncode == 0


def _bwrap(cgroup_parent: str, cpu_mode: str, state_dir: Path | None) -> SandboxBackend:
    from lamina.sandbox.bwrap import BwrapBackend
    return BwrapBackend(detect(parent=cgroup_parent, cpu_mode=cpu_mode),
                        etc_dir=state_dir / "etc" if state_dir is not None else None)


def _process(cgroup_parent: str, cpu_mode: str, state_dir: Path | None) -> SandboxBackend:
    from lamina.sandbox.process import ProcessBackend
    return ProcessBackend(detect(parent=cgroup_parent, cpu_mode=cpu_mode))


def _auto(cgroup_parent: str, cpu_mode: str, state_dir: Path | None) -> SandboxBackend:
    if bwrap_usable():
        return _bwrap(cgroup_parent, cpu_mode, state_dir)
    log.warning("bubblewrap is missing or cannot create namespaces on this host; "
                "falling back to the 'process' sandbox backend")
    return _process(cgroup_parent, cpu_mode, state_dir)


# Extension point: "ray": a factory building the Ray backend (lamina/sandbox/ray.py).
BACKENDS: dict[str, Callable[..., SandboxBackend]] = {
    "auto": _auto,
    "bwrap": _bwrap,
    "process": _process,
}


def make_backend(name: str, *, cgroup_parent: str = "lamina", cpu_mode: str = "quota",
                 state_dir: Path | None = None) -> SandboxBackend:
    """The backend called `name`; ValueError for an unknown name.

    `cgroup_parent`: the group (under each cgroup hierarchy's root) that holds one
    group per sandbox. `cpu_mode`: "quota" (a hard cap in proportion to memory,
    as on AWS) or "weight" (the same proportion, only under contention; see
    `lamina.sandbox.cgroups.base`). `state_dir`: a folder the backend may own for
    files it keeps while running (bwrap stages /etc in `state_dir/etc`); default
    a temporary folder.
    """
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown sandbox backend {name!r}; "
                         f"choose one of {', '.join(sorted(BACKENDS))}") from None
    return factory(cgroup_parent, cpu_mode, state_dir)

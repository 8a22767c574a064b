"""The one place a `SandboxBackend` is chosen, from the `sandbox` setting.

Names: "bwrap", "process", and "auto" (bwrap if it works on this host, else
process with its no-isolation warning). A new backend (the coming "ray" one) is one
more entry in `BACKENDS`: a function taking the keyword options of `make_backend`
and returning a backend.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
from collections.abc import Callable

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


def _bwrap(cgroup_parent: str = "lamina") -> SandboxBackend:
    from lamina.sandbox.bwrap import BwrapBackend
    return BwrapBackend(detect(parent=cgroup_parent))


def _process(cgroup_parent: str = "lamina") -> SandboxBackend:
    from lamina.sandbox.process import ProcessBackend
    return ProcessBackend(detect(parent=cgroup_parent))


def _auto(cgroup_parent: str = "lamina") -> SandboxBackend:
    if bwrap_usable():
        return _bwrap(cgroup_parent)
    log.warning("bubblewrap is missing or cannot create namespaces on this host; "
                "falling back to the 'process' sandbox backend")
    return _process(cgroup_parent)


# Extension point: "ray": a factory building the Ray backend (lamina/sandbox/ray.py).
BACKENDS: dict[str, Callable[..., SandboxBackend]] = {
    "auto": _auto,
    "bwrap": _bwrap,
    "process": _process,
}


def make_backend(name: str, *, cgroup_parent: str = "lamina") -> SandboxBackend:
    """The backend called `name`; ValueError for an unknown name.

    `cgroup_parent` is the group (under each cgroup hierarchy's root) that holds
    one group per sandbox.
    """
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown sandbox backend {name!r}; "
                         f"choose one of {', '.join(sorted(BACKENDS))}") from None
    return factory(cgroup_parent=cgroup_parent)

"""`ProcessBackend`: the function as a plain child process. NO ISOLATION.

For development on machines without bubblewrap only. The function runs as the
server's user, sees the whole host file system and every host process, and can
write wherever the server can. What it still gets: its own session, cwd = the
code folder, exactly the spec's environment, and cgroup (or rlimit) limits.

There is no /var/task, /opt, /tmp or /var/runtime of its own, so host paths stand
in: every argv item and every environment value (each element, for ':'-separated
lists such as PATH or LD_LIBRARY_PATH) that is one of those sandbox paths or lies
below it is rewritten to the matching host folder, e.g. LAMBDA_TASK_ROOT=/var/task
becomes LAMBDA_TASK_ROOT=<code_dir>, and PYTHONPATH=/var/runtime:/opt/python
becomes <runtime_dir>:<opt_dir>/python. Extra mounts are rewritten the same way.
A sandbox path without a host folder (no layers: /opt) is left as it is. Paths
the function computes itself (open("/tmp/x")) are not rewritten: they hit the
host's real /tmp. As root, the child runs in the mount namespace of its /tmp
(see `lamina.sandbox.tmpfs`), where the tmp folder is a size-limited tmpfs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import subprocess
from pathlib import Path

from lamina.sandbox import tmpfs
from lamina.sandbox.base import Sandbox, SandboxBackend, SandboxSpec
from lamina.sandbox.cgroups import Cgroups, detect
from lamina.sandbox.tree import ProcessTree, open_files_limit

log = logging.getLogger("lamina.sandbox")


def path_map(spec: SandboxSpec) -> list[tuple[str, str]]:
    """(sandbox path, host path) pairs, longest sandbox path first."""
    pairs = [("/var/task", spec.code_dir), ("/tmp", spec.tmp_dir),
             ("/opt", spec.opt_dir), ("/var/runtime", spec.runtime_dir)]
    pairs += [(m.target, m.source) for m in spec.mounts]
    found = [(inside.rstrip("/") or "/", str(host)) for inside, host in pairs if host is not None]
    return sorted(found, key=lambda p: len(p[0]), reverse=True)


def rewrite_path(value: str, mapping: list[tuple[str, str]]) -> str:
    """`value` with a leading sandbox path replaced by its host folder."""
    for inside, host in mapping:
        if value == inside or value.startswith(inside + "/"):
            return host + value[len(inside):]
    return value


def rewrite_env(env: dict[str, str], mapping: list[tuple[str, str]]) -> dict[str, str]:
    """Rewrite every ':'-separated element of every value (see the module doc)."""
    return {key: ":".join(rewrite_path(part, mapping) for part in value.split(":"))
            for key, value in env.items()}


class ProcessBackend(SandboxBackend):
    """Runs functions without isolation; logs a loud warning when constructed."""

    name = "process"
    isolated = False

    def __init__(self, cgroups: Cgroups | None = None) -> None:
        log.warning("=" * 72)
        log.warning("SANDBOX BACKEND 'process': NO ISOLATION. Functions run as this "
                    "server's user (uid %d) and can read and write the host and the "
                    "server's data. For development only.", os.getuid())
        log.warning("=" * 72)
        self.cgroups = cgroups if cgroups is not None else detect()

    async def start(self, spec: SandboxSpec) -> Sandbox:
        """Start `spec.argv` (paths rewritten) with cwd = code_dir (or the rewritten
        `spec.cwd`) in a new session, inside its group from the first instruction."""
        mapping = path_map(spec)
        cwd = rewrite_path(spec.cwd, mapping)
        tmp = tmpfs.plan(spec.tmp_dir, spec.tmp_size_mb, os.getuid(), os.getgid(),
                         nsenter=False, cwd=cwd)
        group = self.cgroups.create(spec.env_id, spec.memory_mb, spec.max_processes)
        nofile = open_files_limit(spec.max_open_files)

        def pre_exec() -> None:
            if tmp.hook is not None:
                tmp.hook()
            resource.setrlimit(resource.RLIMIT_NOFILE, nofile)
            group.join_self()
        try:
            # The child joins its cgroup between fork and exec: race-free, at the
            # price of a Python pre-exec hook (fork instead of vfork). Fine for dev.
            proc = await asyncio.create_subprocess_exec(
                *[rewrite_path(a, mapping) for a in spec.argv],
                stdin=subprocess.DEVNULL, stdout=spec.stdout_fd, stderr=spec.stdout_fd,
                env=rewrite_env(spec.env, mapping), cwd=cwd,
                start_new_session=True, preexec_fn=pre_exec)
        except BaseException:
            group.remove()
            raise
        group.adopt(proc.pid)
        if tmp.creates:   # a function that exits at once leaves no /tmp to keep
            tmpfs.adopt(spec.tmp_dir, proc.pid)
        return ProcessTree(proc, group, kill_group=True)

    async def release_tmp(self, tmp_dir: Path) -> None:
        tmpfs.release_tmp(tmp_dir)

    async def close(self) -> None:
        self.cgroups.close()

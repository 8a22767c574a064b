"""`ProcessTree`: the `Sandbox` handle shared by the bwrap and process backends.

It owns one asyncio child process (bwrap, or the function itself) and the cgroup
`Group` every process of the sandbox lives in. Killing goes through the group, so a
process that double-forked or changed its session still dies; the root's own
process group is also signalled for the `none` (rlimit) case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import resource
import signal
import time
from collections.abc import Callable

from lamina.sandbox.base import Sandbox
from lamina.sandbox.cgroups import MB, Group

log = logging.getLogger("lamina.sandbox")

POLL_S = 0.05          # memory.current sampling, only where the peak cannot be reset
KILL_TIMEOUT_S = 10.0


def open_files_limit(wanted: int) -> tuple[int, int]:
    """RLIMIT_NOFILE (soft, hard) for a sandbox: `wanted`, unless an unprivileged
    server cannot raise its own hard limit that far."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if os.geteuid() != 0 and hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    return wanted, wanted


class ProcessTree(Sandbox):
    """A started sandbox. `map_status` turns the root's raw exit status into the
    contract's "exit code, or -signal" (bwrap reports a signal N as 128+N)."""

    def __init__(self, proc: asyncio.subprocess.Process, group: Group, *,
                 kill_group: bool = False,
                 map_status: Callable[[int], int] | None = None,
                 on_destroyed: Callable[[], None] | None = None) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.group = group
        self._kill_group = kill_group
        self._map = map_status or (lambda rc: rc)
        self._on_destroyed = on_destroyed
        self._destroying: asyncio.Task[None] | None = None
        self._gone = False
        self._final_oom = 0
        self._final_peak = 0
        self._poller = (asyncio.get_running_loop().create_task(self._poll())
                        if group.needs_polling else None)

    async def _poll(self) -> None:
        while not self._gone:
            self.group.poll()
            await asyncio.sleep(POLL_S)

    async def wait(self) -> int:
        return self._map(await self.proc.wait())

    def returncode(self) -> int | None:
        rc = self.proc.returncode
        return None if rc is None else self._map(rc)

    def memory_peak_mb(self) -> int:
        peak = self._final_peak if self._gone else self.group.memory_peak_bytes()
        return max(1, math.ceil(peak / MB))

    def reset_peak(self) -> None:
        if not self._gone:
            self.group.reset_peak()
            if self.group.needs_polling and self._poller is None:
                self._poller = asyncio.get_running_loop().create_task(self._poll())

    def pids(self) -> list[int]:
        return self.group.pids()

    def init_done(self) -> None:
        self.group.limit_cpu()

    def set_limits(self, memory_mb: int, *, standby: bool = False) -> bool:
        if self._gone:
            return False
        try:
            self.group.set_limits(memory_mb, standby=standby)
        except NotImplementedError:
            return False
        return True

    def oom_killed(self) -> bool:
        return (self._final_oom if self._gone else self.group.oom_kills()) > 0

    async def destroy(self) -> None:
        # Concurrent callers share one teardown; later callers return at once.
        if self._destroying is None:
            self._destroying = asyncio.get_running_loop().create_task(self._teardown())
        await asyncio.shield(self._destroying)

    def _signal_root(self) -> None:
        if self.proc.returncode is not None:
            return   # reaped: its pid (and pgid) may belong to someone else now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self._kill_group:
                os.killpg(self.proc.pid, signal.SIGKILL)
            else:
                self.proc.kill()

    async def _teardown(self) -> None:
        try:
            self._final_oom = self.group.oom_kills()
            self._final_peak = self.group.memory_peak_bytes()
        except OSError:
            pass
        deadline = time.monotonic() + KILL_TIMEOUT_S
        delay = 0.001
        # The group is the source of truth: loop until no process is left in it
        # (a fork bomb refills it between a read of cgroup.procs and the kills).
        while True:
            self._signal_root()
            found = self.group.kill_all()
            if found == 0 and self.proc.returncode is not None:
                break
            if time.monotonic() > deadline:
                log.error("sandbox %d: processes survive SIGKILL after %.0fs",
                          self.pid, KILL_TIMEOUT_S)
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        while not self.group.remove():
            if time.monotonic() > deadline:
                log.error("sandbox %d: cannot remove its cgroup", self.pid)
                break
            await asyncio.sleep(0.005)
        self._gone = True
        if self._poller is not None:
            self._poller.cancel()
        if self._on_destroyed is not None:
            self._on_destroyed()

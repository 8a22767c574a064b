"""Execution environments per function configuration: warm reuse, cold starts, reaping.

An environment serves one invocation at a time. `acquire()` hands out an idle
environment of the blueprint's key or starts a new one; `release()` puts it back.
Idle environments older than the keep-alive are destroyed by the reaper, and so
are idle environments whose configuration is no longer current.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from pathlib import Path

from lamina.observe.logs import LogStore
from lamina.pool.environment import Blueprint, Environment, State
from lamina.runtime_api.server import RuntimeApiServer
from lamina.sandbox.base import SandboxBackend

log = logging.getLogger("lamina.pool")


class Pool:
    def __init__(self, backend: SandboxBackend, runtime_api: RuntimeApiServer, logs: LogStore,
                 root: Path, keep_alive_s: float) -> None:
        self.backend = backend
        self.runtime_api = runtime_api
        self.logs = logs
        self.root = root
        self.keep_alive_s = keep_alive_s
        self._idle: dict[str, list[Environment]] = defaultdict(list)
        self._all: set[Environment] = set()
        self._pinned: set[Environment] = set()   # provisioned: never reaped
        self._reaper: asyncio.Task[None] | None = None
        root.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def acquire(self, bp: Blueprint) -> tuple[Environment, float | None]:
        """A ready environment (initialising one if needed) and its Init Duration if cold."""
        idle = self._idle.get(bp.key)
        env = idle.pop() if idle else None
        if env is None:
            env = Environment(bp, self.backend, self.runtime_api, self.logs, self.root)
            self._all.add(env)
        env.bp = bp
        env.state = State.BUSY
        init_ms = None
        if env.sandbox is not None and env.sandbox.returncode() is not None:
            await env.reset()          # the runtime died while idle (e.g. after a 413)
        if env.sandbox is None:
            try:
                init_ms = await env.init()
            except BaseException:
                await self._discard(env)
                raise
            env.state = State.BUSY
        return env, init_ms

    def release(self, env: Environment) -> None:
        if env.state == State.DEAD:
            self._all.discard(env)
            return
        env.state = State.IDLE if env.sandbox is not None else State.NEW
        env.last_used = time.monotonic()
        self._idle[env.bp.key].append(env)

    def idle_count(self, key: str) -> int:
        return len(self._idle.get(key, ()))

    def environments(self) -> list[Environment]:
        return list(self._all)

    async def _discard(self, env: Environment) -> None:
        self._all.discard(env)
        self._pinned.discard(env)
        bucket = self._idle.get(env.bp.key)
        if bucket and env in bucket:
            bucket.remove(env)
        await env.destroy()

    async def retire(self, function_name: str, keep_keys: set[str] | None = None) -> None:
        """Destroy idle environments of a function whose key is not in `keep_keys`."""
        victims = [e for key, envs in self._idle.items() for e in envs
                   if e.bp.function_name == function_name
                   and (keep_keys is None or key not in keep_keys) and e not in self._pinned]
        await asyncio.gather(*(self._discard(e) for e in victims))

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, max(0.5, self.keep_alive_s / 4)))
            try:
                await self.reap()
            except Exception:  # noqa: BLE001 - the reaper must survive one bad environment
                log.exception("reaping failed")

    async def reap(self) -> None:
        now = time.monotonic()
        victims = [e for envs in self._idle.values() for e in envs
                   if now - e.last_used > self.keep_alive_s and e not in self._pinned]
        await asyncio.gather(*(self._discard(e) for e in victims))

    def pin(self, env: Environment) -> None:
        self._pinned.add(env)

    def unpin(self, env: Environment) -> None:
        self._pinned.discard(env)

    async def close(self) -> None:
        if self._reaper:
            self._reaper.cancel()
        await asyncio.gather(*(e.destroy() for e in list(self._all)), return_exceptions=True)
        self._all.clear()
        self._idle.clear()

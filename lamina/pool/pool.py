"""Execution environments per function configuration: warm reuse, cold starts, reaping.

An environment serves one invocation at a time. `acquire()` hands out an idle
environment of the blueprint's key or starts a new one; `release()` puts it back.
Idle environments older than the keep-alive are destroyed by the reaper, and so
are idle environments whose configuration is no longer current.

Provisioned environments (`provision()`) form a separate set per blueprint key:
initialised ahead of any request with AWS_LAMBDA_INITIALIZATION_TYPE=
provisioned-concurrency, pinned (never reaped), preferred by `acquire()` over
on-demand ones (so their REPORT line has no Init Duration) and re-initialised in
the background if their runtime is reset, so that they stay warm.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.observe.logs import LogStore
from lamina.pool.environment import Blueprint, Environment, State
from lamina.pool.prewarm import Prewarmer
from lamina.runtime_api.channel import Outcome
from lamina.runtime_api.server import RuntimeApiServer
from lamina.sandbox.base import SandboxBackend

log = logging.getLogger("lamina.pool")

PROVISIONED = "provisioned-concurrency"
PROVISION_PARALLELISM = 8


@dataclass(eq=False)
class _Provisioned:
    """The provisioned environments of one blueprint key."""

    bp: Blueprint                                   # with initialization_type=provisioned
    wanted: int = 0
    members: set[Environment] = field(default_factory=set)   # initialised, idle or busy
    idle: list[Environment] = field(default_factory=list)


class Pool:
    def __init__(self, backend: SandboxBackend, runtime_api: RuntimeApiServer, logs: LogStore,
                 root: Path, keep_alive_s: float, prewarm: int = 0) -> None:
        self.backend = backend
        self.runtime_api = runtime_api
        self.logs = logs
        self.root = root
        self.keep_alive_s = keep_alive_s
        self._idle: dict[str, list[Environment]] = defaultdict(list)
        self._all: set[Environment] = set()
        self._pinned: set[Environment] = set()   # provisioned: never reaped
        self._provisioned: dict[str, _Provisioned] = {}
        self._owner: dict[Environment, _Provisioned] = {}   # provisioned env -> its set
        self._tasks: set[asyncio.Task[None]] = set()
        # Provisioning 100 environments must not start 100 runtimes at once on a small host.
        self._provisioning = asyncio.Semaphore(PROVISION_PARALLELISM)
        self._reaper: asyncio.Task[None] | None = None
        root.mkdir(parents=True, exist_ok=True)
        # Pre-warmed Python runtimes that cold starts take over (lamina.pool.prewarm).
        self.prewarm = (Prewarmer(backend, runtime_api, logs, root, prewarm, keep_alive_s)
                        if prewarm > 0 and backend.isolated else None)

    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def acquire(self, bp: Blueprint) -> tuple[Environment, float | None]:
        """A ready environment (initialising one if needed) and its Init Duration if cold.

        Order: an idle provisioned environment of the key, an idle on-demand one, a
        pre-warmed slot (`lamina.pool.prewarm`), a new one. Everything up to the first
        await is synchronous, so admission's view (`provisioned_idle`, `idle_count`) and
        this pick agree.
        """
        prov = self._provisioned.get(bp.key)
        idle = self._idle.get(bp.key)
        if prov is not None and prov.idle:
            env = prov.idle.pop()
        elif idle:
            env = idle.pop()
            env.bp = bp
        else:
            slot = self.prewarm.take(bp) if self.prewarm is not None else None
            if slot is not None:
                taken = await self._specialize(slot, bp)
                if taken is not None:
                    return slot, taken
            env = Environment(bp, self.backend, self.runtime_api, self.logs, self.root)
            self._all.add(env)
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

    async def _specialize(self, slot: Environment, bp: Blueprint) -> float | None:
        """Make the pre-warmed `slot` an environment of `bp`: its Init Duration, or None
        if it could not (then it is gone, and the caller starts `bp` normally)."""
        self._all.add(slot)
        slot.state = State.BUSY
        assert self.prewarm is not None
        try:
            init_ms = await self.prewarm.specialize(slot, bp)
        except BaseException:
            await self._discard(slot)
            raise
        if init_ms is None:
            await self._discard(slot)
            return None
        slot.state = State.BUSY
        return init_ms

    def release(self, env: Environment) -> None:
        if env.state == State.DEAD:
            self._all.discard(env)
            self._owner.pop(env, None)
            return
        if env in self._owner:
            self._release_provisioned(env)
            return
        env.state = State.IDLE if env.sandbox is not None else State.NEW
        env.last_used = time.monotonic()
        self._idle[env.bp.key].append(env)

    def idle_count(self, key: str) -> int:
        return len(self._idle.get(key, ()))

    # -- provisioned environments -------------------------------------------------------------

    def provisioned_idle(self, key: str) -> int:
        prov = self._provisioned.get(key)
        return len(prov.idle) if prov is not None else 0

    def provisioned_size(self, key: str) -> int:
        """Allocated provisioned environments of a key (initialised, idle or busy)."""
        prov = self._provisioned.get(key)
        return len(prov.members) if prov is not None else 0

    def provisioned_keys(self) -> dict[str, str]:
        """Blueprint keys that have a provisioned set -> their function's name."""
        return {key: prov.bp.function_name for key, prov in self._provisioned.items()}

    async def provision(self, bp: Blueprint, count: int) -> Outcome | None:
        """Make `count` initialised provisioned environments of `bp.key` exist.

        Shrinking destroys idle extras at once and busy ones when released. Growing
        initialises the missing environments concurrently; returns the first init
        error (those environments are destroyed), or None when all are ready.
        Callers serialise calls per key (the provisioner does).
        """
        prov = self._provisioned.get(bp.key)
        if prov is None:
            prov = _Provisioned(dataclasses.replace(bp, initialization_type=PROVISIONED))
            self._provisioned[bp.key] = prov
        prov.wanted = count
        while len(prov.members) > count and prov.idle:
            await self._discard(prov.idle[-1])
        missing = count - len(prov.members)
        results = await asyncio.gather(*(self._start_provisioned(prov) for _ in range(missing)))
        return next((r for r in results if r is not None), None)

    async def _start_provisioned(self, prov: _Provisioned) -> Outcome | None:
        env = Environment(prov.bp, self.backend, self.runtime_api, self.logs, self.root)
        self._all.add(env)
        self._pinned.add(env)
        try:
            async with self._provisioning:
                await env.init()
        except BaseException:
            await self._discard(env)
            raise
        if env.init_error is not None:
            error = env.init_error
            await self._discard(env)
            return error
        env.forget_init_output()
        if self._provisioned.get(prov.bp.key) is not prov or len(prov.members) >= prov.wanted:
            await self._discard(env)     # unprovisioned or shrunk while initialising
            return None
        env.state = State.IDLE
        prov.members.add(env)
        prov.idle.append(env)
        self._owner[env] = prov
        return None

    def _release_provisioned(self, env: Environment) -> None:
        prov = self._owner[env]
        env.last_used = time.monotonic()
        if self._provisioned.get(prov.bp.key) is not prov or len(prov.members) > prov.wanted:
            self._spawn(self._discard(env))
        elif env.sandbox is None or env.sandbox.returncode() is not None:
            self._spawn(self._rewarm(prov, env))    # reset by a timeout or crash: Init again now
        else:
            env.state = State.IDLE
            prov.idle.append(env)

    async def _rewarm(self, prov: _Provisioned, env: Environment) -> None:
        """Init a provisioned environment again after a reset; a failure discards it (the
        provisioner notices the missing member and starts a new one)."""
        try:
            await env.reset()
            async with self._provisioning:
                await env.init()
        except BaseException:
            await self._discard(env)
            raise
        if env.init_error is not None or self._provisioned.get(prov.bp.key) is not prov:
            await self._discard(env)
            return
        env.forget_init_output()
        env.state = State.IDLE
        prov.idle.append(env)

    async def unprovision(self, key: str) -> None:
        """Forget the provisioned set of `key`: idle members go now, busy ones on release."""
        prov = self._provisioned.pop(key, None)
        if prov is not None:
            prov.wanted = 0
            await asyncio.gather(*(self._discard(e) for e in list(prov.idle)))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def environments(self) -> list[Environment]:
        return list(self._all)

    async def _discard(self, env: Environment) -> None:
        self._all.discard(env)
        self._pinned.discard(env)
        prov = self._owner.pop(env, None)
        if prov is not None:
            prov.members.discard(env)
            if env in prov.idle:
                prov.idle.remove(env)
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
            except Exception:
                log.exception("reaping failed")

    async def reap(self) -> None:
        now = time.monotonic()
        victims = [e for envs in self._idle.values() for e in envs
                   if now - e.last_used > self.keep_alive_s and e not in self._pinned]
        await asyncio.gather(*(self._discard(e) for e in victims))
        if self.prewarm is not None:
            await self.prewarm.reap()

    def pin(self, env: Environment) -> None:
        self._pinned.add(env)

    def unpin(self, env: Environment) -> None:
        self._pinned.discard(env)

    async def close(self) -> None:
        if self._reaper:
            self._reaper.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self.prewarm is not None:
            await self.prewarm.close()
        await asyncio.gather(*(e.destroy() for e in list(self._all)), return_exceptions=True)
        self._all.clear()
        self._idle.clear()
        self._provisioned.clear()
        self._owner.clear()

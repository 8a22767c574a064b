"""The provisioner: keeps the pool's provisioned environments equal to the stored configs.

A reconcile loop, woken by every change (PutProvisionedConcurrencyConfig, an alias
moved or deleted, a version or function deleted) and also run every few seconds as
a safety net. Each pass:

1. drops configs whose function, version or alias is gone;
2. for every config not yet READY (or whose environments were lost) starts one task
   that asks the pool for that many initialised environments of its version and
   reports READY, or FAILED with the init error as StatusReason (a pass never waits
   for these, so one slow Init does not hold up other functions);
3. unprovisions blueprint keys no config wants any more, except a function's while
   one of its configs is converging (a moved alias keeps its old environments until
   the new ones are up).

A level-triggered loop was chosen over acting inside each API call so that a
restart, a lost wake-up or a failure half-way all converge on the next pass.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from lamina.control.concurrency import Concurrency
from lamina.control.functions import Functions
from lamina.pool.environment import Blueprint
from lamina.pool.pool import Pool
from lamina.runtimes.base import LaunchError

log = logging.getLogger("lamina.provisioning")

PERIOD_S = 3.0


class Provisioner:
    def __init__(self, concurrency: Concurrency, functions: Functions, pool: Pool,
                 blueprint_for: Callable[[dict[str, Any]], Blueprint]) -> None:
        self.concurrency = concurrency
        self.functions = functions
        self.pool = pool
        self.blueprint_for = blueprint_for
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._working: dict[str, asyncio.Task[None]] = {}   # config key -> convergence

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def wake(self, *_: object) -> None:
        """Something changed; reconcile soon. Safe to call from any listener."""
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for task in list(self._working.values()):
            task.cancel()
        await asyncio.gather(*self._working.values(), return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), PERIOD_S)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.reconcile()
            except Exception:  # one bad config must not stop provisioning
                log.exception("provisioning pass failed")

    async def reconcile(self) -> None:
        """One pass; starts at most one convergence task per config and never waits for it."""
        wanted: set[str] = set()
        busy_functions = {key.split("/", 1)[0] for key in self._working}
        for key, doc in self.concurrency.configs():
            if not self.concurrency.still_valid(key, doc):
                self.concurrency.drop(key)
                continue
            name = key.split("/", 1)[0]
            config = self.functions.resolve.version(name, doc["_version"])
            if config is None:
                continue
            try:
                bp, problem = self.blueprint_for(config), None
            except LaunchError as exc:
                bp, problem = None, f"{exc.error_type}: {exc.message}"
            if bp is not None:
                wanted.add(bp.key)
            if key not in self._working and self._needs_work(doc, bp):
                busy_functions.add(name)
                task = asyncio.get_running_loop().create_task(self._converge(key, doc, bp, problem))
                self._working[key] = task
                task.add_done_callback(functools.partial(self._finished, key))
        # Keys nobody wants go now, except a function's old ones while its new ones come up
        # (a moved alias keeps serving from the old version meanwhile).
        for bp_key, function in self.pool.provisioned_keys().items():
            if bp_key not in wanted and function not in busy_functions:
                await self.pool.unprovision(bp_key)

    def _needs_work(self, doc: dict[str, Any], bp: Blueprint | None) -> bool:
        if doc["Status"] == "FAILED":
            return False                # retried only after a new Put (a new generation)
        if bp is None or doc["Status"] != "READY":
            return True
        return self.pool.provisioned_size(bp.key) != int(doc["RequestedProvisionedConcurrentExecutions"])

    def _finished(self, key: str, _: asyncio.Task[None]) -> None:
        self._working.pop(key, None)
        self.wake()                     # the next pass sees the outcome (and old keys to drop)

    async def _converge(self, key: str, doc: dict[str, Any], bp: Blueprint | None,
                        problem: str | None) -> None:
        """Provision one config's environments and report READY or FAILED for its generation."""
        generation = int(doc["_generation"])
        count = int(doc["RequestedProvisionedConcurrentExecutions"])
        if bp is None:
            self._fail(key, generation, 0, problem or "Init failed")
            return
        error = await self.pool.provision(bp, count)
        allocated = self.pool.provisioned_size(bp.key)
        if error is not None:
            await self.pool.unprovision(bp.key)
            self._fail(key, generation, 0, _reason(error.payload, error.error_type))
        else:
            self.concurrency.report(key, generation, allocated, None)

    def _fail(self, key: str, generation: int, allocated: int, reason: str) -> None:
        log.warning("provisioned concurrency for %s failed: %s", key, reason)
        self.concurrency.report(key, generation, allocated, reason)


def _reason(payload: bytes, error_type: str | None) -> str:
    """StatusReason from an init error document: `errorType: errorMessage`."""
    try:
        body = json.loads(payload)
        kind = body.get("errorType") or error_type or "Runtime.Unknown"
        return f"{kind}: {body.get('errorMessage', '')}".rstrip(": ")
    except (ValueError, AttributeError):
        return error_type or "Init failed"

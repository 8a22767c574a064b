"""What happens to one queued event: AWS's retry policy for asynchronous invocation.

- Function errors (exceptions, timeouts, crashes) are retried up to
  MaximumRetryAttempts (default 2), about 1 min then 2 min apart
  (`Settings.async_retry_delays_s`).
- Throttles and system errors are retried with exponential backoff (1 s → 5 min)
  until the event is older than MaximumEventAgeInSeconds (default 6 h).
- A function with reserved concurrency 0 sends events straight to the failure path.
- At the end, the outcome goes to `Outcomes` (destinations, DLQ, counters).

Async workers go through the same admission as synchronous callers
(`Invoker.run`). On top of that, the workers never start more invocations of a
function than its reserved concurrency: a worker that finds the function full
waits briefly for a slot and otherwise puts the event back (not a throttle, so
the event's backoff does not grow just because the queue is long; AWS's pollers
likewise scale to the function's concurrency).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, Protocol

from lamina.errors import LaminaError, ResourceNotFoundException, TooManyRequestsException
from lamina.invoke.queue import EventStorage, QueuedEvent
from lamina.invoke.service import Invoker, InvokeRequest, InvokeResponse
from lamina.settings import Settings

log = logging.getLogger("lamina.invoke.delivery")

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 21600
SLOT_WAIT_S = 1.0        # how long a worker waits for a busy function before requeueing
REQUEUE_S = 0.2          # and how soon the event is due again


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = DEFAULT_RETRIES
    max_age_s: int = DEFAULT_MAX_AGE_S
    on_success: str | None = None       # destination ARNs
    on_failure: str | None = None


class Outcomes(Protocol):
    """Where finished events go (destinations, DLQ) and what is counted on the way.

    `success`/`failure` must not raise for delivery problems: they count and log
    them. The event is removed from the queue after they return.
    """

    def policy(self, function: str, qualifier: str | None, version: str | None) -> RetryPolicy: ...

    def attempt(self, event: QueuedEvent, function: str) -> None: ...

    async def success(self, event: QueuedEvent, policy: RetryPolicy, resp: InvokeResponse) -> None: ...

    async def failure(self, event: QueuedEvent, policy: RetryPolicy, condition: str,
                      resp: InvokeResponse | None, error: LaminaError | None) -> None: ...


class NoOutcomes:
    def policy(self, function: str, qualifier: str | None, version: str | None) -> RetryPolicy:
        return RetryPolicy()

    def attempt(self, event: QueuedEvent, function: str) -> None:
        return None

    async def success(self, event: QueuedEvent, policy: RetryPolicy, resp: InvokeResponse) -> None:
        return None

    async def failure(self, event: QueuedEvent, policy: RetryPolicy, condition: str,
                      resp: InvokeResponse | None, error: LaminaError | None) -> None:
        log.info("async event %s for %s dropped: %s", event.request_id, event.function, condition)


class Delivery:
    """The `deliver` callback of `AsyncQueue`: one attempt at one event."""

    def __init__(self, settings: Settings, invoker: Invoker, store: EventStorage,
                 outcomes: Outcomes | None = None) -> None:
        self.settings = settings
        self.invoker = invoker
        self.store = store
        self.outcomes: Outcomes = outcomes or NoOutcomes()
        self._inflight: Counter[str] = Counter()
        self._freed: dict[str, asyncio.Event] = {}

    def backoff(self, throttles: int) -> float:
        return min(self.settings.async_backoff_max_s, 2.0 ** throttles)

    def _reserved(self, name: str) -> int | None:
        """The function's reserved concurrency, from admission (the one source of truth)."""
        admission: Any = self.invoker.admission
        lookup = getattr(admission, "reserved", None) or getattr(admission, "reserved_of", None)
        return lookup(name) if lookup is not None else None

    async def __call__(self, event: QueuedEvent) -> None:
        try:
            target = self.invoker.target(event.function, event.qualifier)
        except ResourceNotFoundException:
            self.store.done(event.id)     # the function is gone; so is its queue
            return
        policy = self.outcomes.policy(target.name, event.qualifier, target.version)
        if time.time() - event.enqueued_at > policy.max_age_s:
            await self._fail(event, policy, "EventAgeExceeded", None, None)
            return
        reserved = self._reserved(target.name)
        if reserved == 0:
            await self._fail(event, policy, "RetriesExhausted", None, TooManyRequestsException(
                "ReservedFunctionConcurrentInvocationLimitExceeded"))
            return
        if reserved is not None and not await self._slot(target.name, reserved):
            self.store.retry(event.id, REQUEUE_S, event.attempts, event.throttles)
            return
        self._inflight[target.name] += 1
        try:
            await self._attempt(event, policy, target)
        finally:
            self._inflight[target.name] -= 1
            freed = self._freed.pop(target.name, None)
            if freed is not None:
                freed.set()

    async def _slot(self, name: str, reserved: int) -> bool:
        """Wait (briefly) until this server's workers run fewer than `reserved` of `name`."""
        deadline = time.monotonic() + SLOT_WAIT_S
        while self._inflight[name] >= reserved:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            freed = self._freed.setdefault(name, asyncio.Event())
            try:
                await asyncio.wait_for(freed.wait(), timeout=left)
            except TimeoutError:
                return False
        return True

    async def _attempt(self, event: QueuedEvent, policy: RetryPolicy, target: Any) -> None:
        req = InvokeRequest(function_name=event.function, qualifier=event.qualifier,
                            payload=event.payload, request_id=event.request_id)
        self.outcomes.attempt(event, target.name)
        version = target.version
        try:
            config = self.invoker.config_for(target)
            version = config["Version"]
            resp = await self.invoker.run(target, config, req)
        except TooManyRequestsException as exc:
            if self._reserved(target.name) == 0:
                await self._fail(event, policy, "RetriesExhausted", None, exc)
                return
            self._retry_throttled(event, policy, exc.status, version)
            return
        except ResourceNotFoundException:
            self.store.done(event.id)     # deleted while queued
            return
        except LaminaError as exc:
            if exc.status >= 500:
                self._retry_throttled(event, policy, exc.status, version)
                return
            await self._fail(event, policy, "RetriesExhausted", None, exc)
            return
        ran = replace(event, attempts=event.attempts + 1)
        if resp.function_error is None:
            await self.outcomes.success(ran, policy, resp)
            self.store.done(event.id)
            return
        if ran.attempts > policy.max_retries:
            await self._fail(ran, policy, "RetriesExhausted", resp, None)
            return
        delays = self.settings.async_retry_delays_s
        delay = delays[min(ran.attempts, len(delays)) - 1]
        last = {"statusCode": resp.status, "executedVersion": resp.executed_version,
                "functionError": resp.function_error}
        self.store.retry(event.id, self._within_age(event, policy, delay), ran.attempts,
                         event.throttles, {**event.meta, "last": last})

    def _retry_throttled(self, event: QueuedEvent, policy: RetryPolicy, status: int,
                         version: str) -> None:
        # `last` lets an EventAgeExceeded record say how the final attempt ended.
        delay = self._within_age(event, policy, self.backoff(event.throttles))
        last = {"statusCode": status, "executedVersion": version}
        self.store.retry(event.id, delay, event.attempts, event.throttles + 1,
                         {**event.meta, "last": last})

    @staticmethod
    def _within_age(event: QueuedEvent, policy: RetryPolicy, delay: float) -> float:
        """Never sleep past the event's maximum age: it must fail on time, not later."""
        expires_in = event.enqueued_at + policy.max_age_s - time.time()
        return max(0.0, min(delay, expires_in + 0.01))

    async def _fail(self, event: QueuedEvent, policy: RetryPolicy, condition: str,
                    resp: InvokeResponse | None, error: LaminaError | None) -> None:
        await self.outcomes.failure(event, policy, condition, resp, error)
        self.store.done(event.id)

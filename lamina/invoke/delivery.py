"""What happens to one queued event: AWS's retry policy for asynchronous invocation.

- Function errors (exceptions, timeouts, crashes) are retried up to
  MaximumRetryAttempts (default 2), about 1 min then 2 min apart.
- Throttles and system errors are retried with exponential backoff (1 s → 5 min)
  until the event is older than MaximumEventAgeInSeconds (default 6 h).
- A function with reserved concurrency 0 sends events straight to the failure path.
- At the end, the outcome goes to the OnSuccess/OnFailure destination or DLQ
  through `Outcomes` (a no-op until destinations are configured).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from lamina.errors import LaminaError, ResourceNotFoundException, TooManyRequestsException
from lamina.invoke.queue import EventStore, QueuedEvent
from lamina.invoke.service import InvokeRequest, InvokeResponse, Invoker
from lamina.settings import Settings

log = logging.getLogger("lamina.invoke.delivery")

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 21600


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = DEFAULT_RETRIES
    max_age_s: int = DEFAULT_MAX_AGE_S
    destination_config: dict[str, Any] | None = None


class Outcomes(Protocol):
    """Where finished events go (destinations, DLQ, metrics)."""

    def policy(self, function: str, qualifier: str | None, version: str | None) -> RetryPolicy: ...

    async def success(self, event: QueuedEvent, policy: RetryPolicy, resp: InvokeResponse) -> None: ...

    async def failure(self, event: QueuedEvent, policy: RetryPolicy, condition: str,
                      resp: InvokeResponse | None, error: LaminaError | None) -> None: ...


class NoOutcomes:
    def policy(self, function: str, qualifier: str | None, version: str | None) -> RetryPolicy:
        return RetryPolicy()

    async def success(self, event: QueuedEvent, policy: RetryPolicy, resp: InvokeResponse) -> None:
        return None

    async def failure(self, event: QueuedEvent, policy: RetryPolicy, condition: str,
                      resp: InvokeResponse | None, error: LaminaError | None) -> None:
        log.info("async event %s for %s dropped: %s", event.request_id, event.function, condition)


class Delivery:
    def __init__(self, settings: Settings, invoker: Invoker, store: EventStore,
                 outcomes: Outcomes | None = None) -> None:
        self.settings = settings
        self.invoker = invoker
        self.store = store
        self.outcomes: Outcomes = outcomes or NoOutcomes()

    def backoff(self, throttles: int) -> float:
        return min(self.settings.async_backoff_max_s, 2.0 ** throttles)

    async def __call__(self, event: QueuedEvent) -> None:
        try:
            target = self.invoker.target(event.function, event.qualifier)
        except ResourceNotFoundException:
            self.store.done(event.id)     # the function is gone; so is its queue
            return
        policy = self.outcomes.policy(target.name, event.qualifier, target.version)
        age = time.time() - event.enqueued_at
        if age > policy.max_age_s:
            await self._fail(event, policy, "EventAgeExceeded", None, None)
            return
        req = InvokeRequest(function_name=event.function, qualifier=event.qualifier,
                            payload=event.payload, request_id=event.request_id)
        try:
            config = self.invoker.functions.resolve.version(
                target.name,
                self.invoker.aliases.pick_version(target.alias) if target.alias else target.version)
            if config is None:
                raise self.invoker.functions.resolve.not_found(target.name, target.qualifier)
            resp = await self.invoker.run(target, config, req)
        except TooManyRequestsException as exc:
            reserved = self.invoker.admission.reserved_of(target.name)
            if reserved == 0:
                await self._fail(event, policy, "RetriesExhausted", None, exc)
                return
            self.store.retry(event.id, self.backoff(event.throttles), event.attempts,
                             event.throttles + 1)
            return
        except LaminaError as exc:
            if exc.status >= 500:
                self.store.retry(event.id, self.backoff(event.throttles), event.attempts,
                                 event.throttles + 1)
                return
            await self._fail(event, policy, "RetriesExhausted", None, exc)
            return
        attempts = event.attempts + 1
        if resp.function_error is None:
            await self.outcomes.success(QueuedEvent(**{**event.__dict__, "attempts": attempts}),
                                        policy, resp)
            self.store.done(event.id)
            return
        if attempts > policy.max_retries:
            await self._fail(QueuedEvent(**{**event.__dict__, "attempts": attempts}), policy,
                             "RetriesExhausted", resp, None)
            return
        delays = self.settings.async_retry_delays_s
        self.store.retry(event.id, delays[min(attempts, len(delays)) - 1], attempts, event.throttles)

    async def _fail(self, event: QueuedEvent, policy: RetryPolicy, condition: str,
                    resp: InvokeResponse | None, error: LaminaError | None) -> None:
        await self.outcomes.failure(event, policy, condition, resp, error)
        self.store.done(event.id)

"""Admission: may one more invocation of this function start now?

One `Admission` per server is the single source of truth for concurrency on one
machine. `admit()` either counts the invocation and returns a `Ticket`, or
raises `TooManyRequestsException` with AWS's `Reason` having changed nothing
(no count, no scaling token, nothing started). The rules, in AWS's order:

- A function with reserved concurrency `r` never runs more than `r` copies
  (provisioned ones included); `r = 0` throttles everything.
- Functions without a reservation share the unreserved pool: the account limit
  minus every reservation minus the provisioned concurrency claimed by
  unreserved functions. An invocation served by a provisioned environment uses
  that claim, not the shared pool.
- Starting a *new* environment spends a scaling token: per function N per 10 s
  refilled continuously (AWS's rule since 2023), or in legacy mode one
  account-wide bucket with a regional burst refilled at 500 per minute. A warm
  or provisioned environment needs no token.

Admission runs on the event loop and is synchronous, so a decision and the
pool's pick of an environment (also synchronous up to its first await) cannot
interleave with another invocation's.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from lamina.errors import TooManyRequestsException
from lamina.observe.metrics import Metrics
from lamina.settings import Settings

RESERVED_LIMIT = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT = "ConcurrentInvocationLimitExceeded"
FUNCTION_RATE = "FunctionInvocationRateLimitExceeded"
RESERVED_RATE = "ReservedFunctionInvocationRateLimitExceeded"

# The archived scaling rule's initial burst by region; everything else got 500.
_LEGACY_BURST = {"us-west-2": 3000, "us-east-1": 3000, "eu-west-1": 3000,
                 "ap-northeast-1": 1000, "eu-central-1": 1000, "us-east-2": 1000}
LEGACY_REFILL_PER_MINUTE = 500


def legacy_burst(region: str) -> int:
    return _LEGACY_BURST.get(region, 500)


@dataclass(frozen=True)
class Limits:
    """The configured limits admission enforces (read from control/ and cached)."""

    reserved: dict[str, int] = field(default_factory=dict)     # function -> reserved
    provisioned: dict[str, int] = field(default_factory=dict)  # function -> Σ requested PC


class PoolView(Protocol):
    """What admission needs to know about the pool (lamina.pool.pool.Pool)."""

    def idle_count(self, key: str) -> int: ...
    def provisioned_idle(self, key: str) -> int: ...
    def provisioned_size(self, key: str) -> int: ...


class TokenBucket:
    """`capacity` tokens, refilled continuously at `rate` per second, never above capacity."""

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def wait_s(self, now: float) -> float:
        """Seconds until one token is available."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 or self.rate <= 0 else (1 - self.tokens) / self.rate


@dataclass
class Ticket:
    """One admitted invocation. `release()` is idempotent."""

    function: str
    key: str
    provisioned: bool        # will be served by a provisioned environment
    unreserved: bool         # counted against the shared unreserved pool
    cold: bool               # a new environment is expected (a scaling token was spent)
    release: Callable[[], None] = lambda: None
    qualifier: str | None = None   # as invoked (alias, version, $LATEST) or None
    version: str | None = None     # the version that runs
    started: float = 0.0           # wall clock at admission: metrics stamp data points with it


class Admission:
    def __init__(self, account_limit: int, *, pool: PoolView | None = None,
                 limits: Callable[[], Limits] = Limits,
                 scaling_per_10s: int = 1000, scaling_mode: str = "function",
                 legacy_burst_size: int = 3000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if scaling_mode not in ("function", "legacy-burst"):
            raise ValueError(f"unknown scaling mode {scaling_mode!r}")
        self.account_limit = account_limit
        self.pool = pool
        self._load_limits = limits
        self._limits: Limits | None = None
        self._figures = (account_limit, account_limit)   # (unreserved limit, capacity)
        self.scaling_per_10s = scaling_per_10s
        self.scaling_mode = scaling_mode
        self.legacy_burst_size = legacy_burst_size
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        # -- counters (the metrics issue reads these) --
        self.running: Counter[str] = Counter()               # function -> busy invocations
        self.on_demand_running: Counter[str] = Counter()     # function -> busy, not on PC
        self.running_by_key: Counter[str] = Counter()        # version blueprint key -> busy
        self.provisioned_running: Counter[str] = Counter()   # blueprint key -> busy on PC
        self.unreserved_running = 0
        self.total = 0
        self.throttles: Counter[str] = Counter()             # function -> 429s
        self.throttle_reasons: Counter[str] = Counter()      # Reason -> 429s
        self.cold_admissions: Counter[str] = Counter()       # function -> new environments
        self.provisioned_invocations: Counter[str] = Counter()   # key -> served by PC
        self.spillover_invocations: Counter[str] = Counter()     # key -> beyond its PC
        self._peak: Counter[str] = Counter()                 # function -> max busy since take_peaks
        self._peak_total = 0
        self.metrics = Metrics()    # the server replaces it with its shared registry

    @classmethod
    def from_settings(cls, settings: Settings, pool: PoolView | None,
                      limits: Callable[[], Limits]) -> Admission:
        burst = settings.legacy_burst or legacy_burst(settings.region)
        return cls(settings.account_concurrency, pool=pool, limits=limits,
                   scaling_per_10s=settings.scaling_per_10s, scaling_mode=settings.scaling_mode,
                   legacy_burst_size=burst)

    # -- limits -----------------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        return self._load()

    def _load(self) -> Limits:
        """The cached limits (and the two figures derived from them), loaded if stale."""
        if self._limits is None:
            limits = self._load_limits()
            claimed = sum(n for fn, n in limits.provisioned.items() if fn not in limits.reserved)
            unreserved = self.account_limit - sum(limits.reserved.values())
            self._figures = (unreserved, max(0, unreserved - claimed))
            self._limits = limits
        return self._limits

    def refresh(self, *_: object) -> None:
        """The configured limits changed (reserved or provisioned concurrency, a deletion)."""
        self._limits = None

    def reserved(self, function: str) -> int | None:
        return self.limits.reserved.get(function)

    def unreserved_limit(self) -> int:
        """AWS's `UnreservedConcurrentExecutions` account limit: account − Σ reserved."""
        self._load()
        return self._figures[0]

    def unreserved_capacity(self) -> int:
        """On-demand room shared by unreserved functions (their PC claims are set aside)."""
        self._load()
        return self._figures[1]

    # -- admit ------------------------------------------------------------------------------

    def admit(self, function: str, version: str, qualifier: str | None, key: str) -> Ticket:
        """Count one invocation of `function` (blueprint `key`) or raise 429 unchanged.

        `version` and `qualifier` name what was invoked; the limits are per function and
        per blueprint key (a version's configuration), so they are not needed today."""
        reserved = self.reserved(function)
        pool = self.pool
        provisioned = pool is not None and pool.provisioned_idle(key) > 0
        if reserved is not None and self.running[function] >= reserved:
            self._throttle(function, qualifier, RESERVED_LIMIT)
        if reserved is not None and not provisioned:
            # Provisioned environments hold their share of the reservation even when idle:
            # on-demand invocations get only the rest (AWS throttles $LATEST when reserved
            # equals provisioned; recorded in LocalStack's test_reserved_provisioned_overlap).
            on_demand_room = reserved - self.limits.provisioned.get(function, 0)
            if self.on_demand_running[function] >= on_demand_room:
                self._throttle(function, qualifier, RESERVED_LIMIT)
        unreserved = reserved is None and not provisioned
        if unreserved and self.unreserved_running >= self.unreserved_capacity():
            self._throttle(function, qualifier, ACCOUNT_LIMIT)
        if self.total >= self.account_limit:
            # Unreachable with validated limits; holds if the account limit was lowered later.
            self._throttle(function, qualifier, ACCOUNT_LIMIT)
        cold = not provisioned and (pool is None or pool.idle_count(key) == 0)
        if cold:
            bucket = self._bucket(function)
            now = self.clock()
            if not bucket.take(now):
                self._throttle(function, qualifier,
                               RESERVED_RATE if reserved is not None else FUNCTION_RATE,
                               retry_after_s=max(1, math.ceil(bucket.wait_s(now))))
            self.cold_admissions[function] += 1
        if provisioned:
            self.provisioned_invocations[key] += 1
        elif pool is not None and pool.provisioned_size(key):
            self.spillover_invocations[key] += 1
        ticket = Ticket(function, key, provisioned, unreserved, cold, qualifier=qualifier,
                        version=version, started=time.time())
        self._count(ticket, +1)
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._count(ticket, -1)

        ticket.release = release
        return ticket

    def _count(self, t: Ticket, delta: int) -> None:
        self.running[t.function] += delta
        self.running_by_key[t.key] += delta
        if not t.provisioned:
            self.on_demand_running[t.function] += delta
        self.total += delta
        if t.unreserved:
            self.unreserved_running += delta
        if t.provisioned:
            self.provisioned_running[t.key] += delta
        if delta > 0:
            self._peak[t.function] = max(self._peak[t.function], self.running[t.function])
            self._peak_total = max(self._peak_total, self.total)
        self.metrics.concurrency(self, t, delta)
        if delta < 0:   # drop zero entries so the counters do not grow with every function ever run
            for counter, name in ((self.running, t.function), (self.on_demand_running, t.function),
                                  (self.running_by_key, t.key),
                                  (self.provisioned_running, t.key)):
                if counter.get(name) == 0:
                    del counter[name]

    def _bucket(self, function: str) -> TokenBucket:
        name = "" if self.scaling_mode == "legacy-burst" else function
        bucket = self._buckets.get(name)
        if bucket is None:
            if self.scaling_mode == "legacy-burst":
                bucket = TokenBucket(self.legacy_burst_size, LEGACY_REFILL_PER_MINUTE / 60.0,
                                     self.clock())
            else:
                bucket = TokenBucket(self.scaling_per_10s, self.scaling_per_10s / 10.0, self.clock())
            self._buckets[name] = bucket
        return bucket

    def _throttle(self, function: str, qualifier: str | None, reason: str,
                  retry_after_s: int | None = None) -> None:
        self.throttles[function] += 1
        self.metrics.throttled(function, qualifier)
        self.throttle_reasons[reason] += 1
        raise TooManyRequestsException(reason, retry_after_s=retry_after_s)

    # -- metrics ----------------------------------------------------------------------------

    def concurrent_executions(self, function: str | None = None) -> int:
        """ConcurrentExecutions now: account-wide, or of one function."""
        return self.total if function is None else self.running.get(function, 0)

    def unreserved_concurrent_executions(self) -> int:
        return self.unreserved_running

    def provisioned_concurrent_executions(self, key: str | None = None) -> int:
        if key is None:
            return sum(self.provisioned_running.values())
        return self.provisioned_running.get(key, 0)

    def provisioned_utilization(self, key: str) -> float:
        """ProvisionedConcurrentExecutions ÷ allocated provisioned environments (0 if none)."""
        size = self.pool.provisioned_size(key) if self.pool is not None else 0
        return self.provisioned_running.get(key, 0) / size if size else 0.0

    def claimed_account_concurrency(self) -> int:
        limits = self.limits
        unreserved_pc = sum(n for fn, n in limits.provisioned.items() if fn not in limits.reserved)
        return self.unreserved_running + sum(limits.reserved.values()) + unreserved_pc

    def take_peaks(self) -> tuple[int, dict[str, int]]:
        """Max ConcurrentExecutions (account, per function) since the last call; resets them."""
        total, peaks = self._peak_total, dict(self._peak)
        self._peak_total = self.total
        self._peak = Counter({f: n for f, n in self.running.items() if n})
        return total, peaks

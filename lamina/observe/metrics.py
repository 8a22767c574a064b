"""Lambda's CloudWatch metrics (namespace `AWS/Lambda`), kept in memory in 1-minute buckets.

Writers call one method where a thing happens (`invoked`, `concurrency`,
`throttled`, `record`); readers are the CloudWatch API (`lamina.api.cloudwatch`)
and the Prometheus text at `/_lamina/metrics` (`lamina.observe.prometheus`).
Statistics per cell live in `lamina.observe.stat`.

A series is `(metric, FunctionName, Resource, ExecutedVersion)` with `None` for
an absent dimension. Two kinds of metric:

- *Additive* metrics (counts and samples: Invocations, Errors, Duration, …) are
  recorded once, at the finest dimensions the event has, and rolled up at read
  time: `{FunctionName: f}` is every series of `f`, `{}` is every series. One
  dictionary update per metric per event keeps the warm path cheap.
- *Gauges* (ConcurrentExecutions and friends) are not additive — the maximum of
  two versions' concurrency is not the function's — so they are recorded at each
  dimension level they are published at and read back exactly.

Data points are stamped with the invocation's start (as AWS does), so a 5-minute
invocation lands in the minute it started. Minutes are added to lifetime totals
(which the Prometheus counters read) once no invocation can still write to them,
and dropped after `retention_min`.

Nothing here locks or touches disk on the write path: all writers run on the
event loop. The registry is written to `path` (if given) once, at shutdown, and
reloaded at start, so a restart keeps the last day of metrics. A crash loses the
metrics of that run: periodic snapshots would cost the loop a pause that grows
with the data (a day of buckets), and metrics are advisory, unlike events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from lamina.observe.stat import Stat

log = logging.getLogger("lamina.observe.metrics")

NAMESPACE = "AWS/Lambda"
FOLD_LAG_MIN = 16      # Lambda's longest timeout (15 min) plus one
Key = tuple[str, str | None, str | None, str | None]   # metric, function, resource, executed

# metric -> (unit, kind): kind "sum" (counts), "sample" (values with percentiles), "gauge".
METRICS: dict[str, tuple[str, str]] = {
    "Invocations": ("Count", "sum"),
    "Errors": ("Count", "sum"),
    "Throttles": ("Count", "sum"),
    "Duration": ("Milliseconds", "sample"),
    "ConcurrentExecutions": ("Count", "gauge"),
    "UnreservedConcurrentExecutions": ("Count", "gauge"),
    "ClaimedAccountConcurrency": ("Count", "gauge"),
    "ProvisionedConcurrentExecutions": ("Count", "gauge"),
    "ProvisionedConcurrencyUtilization": ("None", "gauge"),
    "ProvisionedConcurrencyInvocations": ("Count", "sum"),
    "ProvisionedConcurrencySpilloverInvocations": ("Count", "sum"),
    "AsyncEventsReceived": ("Count", "sum"),
    "AsyncEventAge": ("Milliseconds", "sample"),
    "AsyncEventsDropped": ("Count", "sum"),
    "DeadLetterErrors": ("Count", "sum"),
    "DestinationDeliveryFailures": ("Count", "sum"),
    "IteratorAge": ("Milliseconds", "sample"),
}
DIMENSION_NAMES = ("FunctionName", "Resource", "ExecutedVersion")

class TicketView(Protocol):
    """What the registry reads from an admission ticket (lamina.invoke.admission.Ticket)."""

    function: str
    key: str
    provisioned: bool
    unreserved: bool
    qualifier: str | None
    version: str | None
    started: float


class ResultView(Protocol):
    function_error: str | None
    duration_ms: float


def resource_of(function: str, qualifier: str | None) -> str:
    """The `Resource` dimension: `fn:alias` / `fn:version`, or `fn` when unqualified."""
    return f"{function}:{qualifier}" if qualifier else function


def is_alias(qualifier: str | None) -> bool:
    # Alias names may not be all digits, and $LATEST is a version.
    return bool(qualifier) and qualifier != "$LATEST" and not qualifier.isdigit()  # type: ignore[union-attr]


class Metrics:
    """The registry. All methods run on the event loop (no locks)."""

    def __init__(self, path: Path | None = None, retention_min: int = 24 * 60,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.retention_min = retention_min
        self.clock = clock
        self._minutes: dict[int, dict[Key, Stat]] = {}
        self._lifetime: dict[Key, Stat] = {}   # everything older than `_folded_below`
        self._folded_below = 0                  # minutes below this are in `_lifetime`
        self._running: dict[tuple[str, str | None], int] = {}   # (function, qualifier) -> busy
        # The cells an invocation writes, by (minute, function, qualifier, version): one dict
        # lookup instead of six on the warm path. Emptied as minutes are folded.
        self._hot: dict[tuple[int, str, str | None, str | None], tuple[Stat, Stat, Stat]] = {}
        self._hot_gauges: dict[tuple[int, str, str | None], tuple[Stat, Stat, Stat, Stat]] = {}
        self._pc_resource: dict[str, tuple[str, str]] = {}    # blueprint key -> (fn, resource)
        self.admission: Any = None            # set by the first `concurrency()` call
        self._task: asyncio.Task[None] | None = None

    # -- writing (the warm path) ------------------------------------------------------------

    def _cell(self, minute: int, key: Key) -> Stat:
        bucket = self._minutes.get(minute)
        if bucket is None:
            bucket = self._minutes[minute] = {}
        stat = bucket.get(key)
        if stat is None:
            stat = bucket[key] = Stat(METRICS[key[0]][1] == "sample")
        return stat

    def _add(self, minute: int, key: Key, value: float) -> None:
        self._cell(minute, key).add(value)
        if minute < self._folded_below:   # a write into a minute already in the lifetime totals
            stat = self._lifetime.get(key)
            if stat is None:
                stat = self._lifetime[key] = Stat()
            stat.add(value)

    def invoked(self, ticket: TicketView, result: ResultView) -> None:
        """One invocation ran: Invocations, Errors (0 or 1) and Duration at its start minute."""
        minute = int(ticket.started // 60)
        hot = (minute, ticket.function, ticket.qualifier, ticket.version)
        cells = self._hot.get(hot)
        if cells is None:
            fn, q = ticket.function, ticket.qualifier
            dims = (fn, f"{fn}:{q}" if q else fn, ticket.version if is_alias(q) else None)
            if minute < self._folded_below:       # rare: the slow path keeps totals right
                self._add(minute, ("Invocations", *dims), 1.0)
                self._add(minute, ("Errors", *dims), 1.0 if result.function_error else 0.0)
                self._add(minute, ("Duration", *dims), result.duration_ms)
                return
            cells = self._hot[hot] = (self._cell(minute, ("Invocations", *dims)),
                                      self._cell(minute, ("Errors", *dims)),
                                      self._cell(minute, ("Duration", *dims)))
        cells[0].add(1.0)
        cells[1].add(1.0 if result.function_error else 0.0)
        cells[2].add(result.duration_ms)

    def throttled(self, function: str, qualifier: str | None) -> None:
        """A request was refused for lack of concurrency (HTTP 429)."""
        res = resource_of(function, qualifier)
        self._add(int(self.clock() // 60), ("Throttles", function, res, None), 1.0)

    def record(self, metric: str, function: str, value: float = 1.0) -> None:
        """A per-function event now (async and event-source metrics): a count or a sample."""
        self._add(int(self.clock() // 60), (metric, function, None, None), value)

    def concurrency(self, admission: Any, ticket: TicketView, delta: int) -> None:
        """Admission counted (+1) or released (-1) an invocation; `admission` is already updated.

        On +1 the concurrency gauges are sampled at their new (higher) values, so each
        minute's Maximum is exact; lower values need no sample."""
        self.admission = admission
        fn, q = ticket.function, ticket.qualifier
        busy = self._running.get((fn, q), 0) + delta
        if busy > 0:
            self._running[(fn, q)] = busy
        else:
            self._running.pop((fn, q), None)
        if delta <= 0:
            return
        minute = int(ticket.started // 60)
        cells = self._hot_gauges.get((minute, fn, q))
        if cells is None:
            res = f"{fn}:{q}" if q else fn
            cells = (self._cell(minute, ("ConcurrentExecutions", None, None, None)),
                     self._cell(minute, ("ConcurrentExecutions", fn, None, None)),
                     self._cell(minute, ("ConcurrentExecutions", fn, res, None)),
                     self._cell(minute, ("UnreservedConcurrentExecutions", None, None, None)))
            if minute >= self._folded_below:
                self._hot_gauges[(minute, fn, q)] = cells
        cells[0].add(admission.total)
        cells[1].add(admission.running[fn])
        cells[2].add(busy)
        if ticket.unreserved:
            cells[3].add(admission.unreserved_running)
        if ticket.provisioned:
            self._provisioned(admission, ticket, minute)
        elif admission.pool is not None and admission.pool.provisioned_size(ticket.key):
            res = resource_of(fn, q)
            self._add(minute, ("ProvisionedConcurrencySpilloverInvocations", fn, res, None), 1.0)

    def _provisioned(self, admission: Any, ticket: TicketView, minute: int) -> None:
        res = resource_of(ticket.function, ticket.qualifier)
        self._pc_resource[ticket.key] = (ticket.function, res)
        self._add(minute, ("ProvisionedConcurrencyInvocations", ticket.function, res, None), 1.0)
        self._add(minute, ("ProvisionedConcurrentExecutions", ticket.function, res, None),
                  admission.provisioned_running.get(ticket.key, 0))
        self._add(minute, ("ProvisionedConcurrencyUtilization", ticket.function, res, None),
                  admission.provisioned_utilization(ticket.key))

    def carry(self, minute: int) -> None:
        """A new minute began: sample the gauges of invocations still running into it, and
        ClaimedAccountConcurrency of the minute that ended (= its peak unreserved use plus
        the reservations, which only change with configuration)."""
        adm = self.admission
        if adm is None:
            return
        ended = self._minutes.get(minute - 1, {}).get(
            ("UnreservedConcurrentExecutions", None, None, None))
        if adm.total or ended is not None:
            peak = ended.high if ended is not None and ended.count else adm.unreserved_running
            claimed = adm.claimed_account_concurrency() - adm.unreserved_running + peak
            self._add(minute - 1, ("ClaimedAccountConcurrency", None, None, None), claimed)
        if not adm.total:
            return
        add = self._add
        add(minute, ("ConcurrentExecutions", None, None, None), adm.total)
        for fn, n in list(adm.running.items()):
            if n:
                add(minute, ("ConcurrentExecutions", fn, None, None), n)
        for (fn, q), n in list(self._running.items()):
            add(minute, ("ConcurrentExecutions", fn, resource_of(fn, q), None), n)
        add(minute, ("UnreservedConcurrentExecutions", None, None, None), adm.unreserved_running)
        for key, n in list(adm.provisioned_running.items()):
            where = self._pc_resource.get(key)
            if n and where is not None:
                add(minute, ("ProvisionedConcurrentExecutions", *where, None), n)
                add(minute, ("ProvisionedConcurrencyUtilization", *where, None),
                    adm.provisioned_utilization(key))

    # -- reading ----------------------------------------------------------------------------

    def query(self, metric: str, dimensions: dict[str, str], start: float, end: float,
              period: int) -> list[tuple[int, Stat]]:
        """(period start in epoch s, merged Stat) for each period in [start, end) with data.

        `dimensions` must be exactly one of Lambda's published sets ({}, FunctionName,
        FunctionName+Resource, FunctionName+Resource+ExecutedVersion), else nothing matches,
        as CloudWatch matches dimension sets exactly."""
        kind = METRICS.get(metric, (None, None))[1]
        want = _dimension_tuple(dimensions)
        if kind is None or want is None or period <= 0:
            return []
        exact = kind == "gauge"
        level = sum(v is not None for v in want)
        origin = int(start // 60) * 60
        out: dict[int, Stat] = {}
        first, stop = origin // 60, int(-(-end // 60))
        span = range(first, stop) if stop - first < len(self._minutes) else list(self._minutes)
        for minute in span:
            bucket = self._minutes.get(minute)
            at = minute * 60
            if bucket is None or not origin <= at < end:
                continue
            for key, stat in bucket.items():
                if key[0] != metric:
                    continue
                if exact and key[1:] != want or not exact and key[1:1 + level] != want[:level]:
                    continue
                slot = origin + (at - origin) // period * period
                acc = out.get(slot)
                if acc is None:
                    acc = out[slot] = Stat()
                acc.merge(stat)
        return sorted(out.items())

    def names(self) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
        """Every (metric, dimensions) with data in memory, as ListMetrics lists them."""
        found: set[Key] = set()
        for bucket in self._minutes.values():
            found.update(bucket)
        out: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for key in found:
            values = [v for v in key[1:] if v is not None]
            levels = [len(values)] if METRICS[key[0]][1] == "gauge" else range(len(values) + 1)
            for n in levels:
                out.add((key[0], tuple(zip(DIMENSION_NAMES, values[:n], strict=False))))
        return out

    def totals(self) -> dict[Key, Stat]:
        """Lifetime totals per finest series (no percentiles): folded minutes plus the rest."""
        out = {key: _copy(stat) for key, stat in self._lifetime.items()}
        for minute, bucket in self._minutes.items():
            if minute < self._folded_below:
                continue
            for key, stat in bucket.items():
                acc = out.get(key)
                if acc is None:
                    acc = out[key] = Stat()
                acc.merge(stat, bins=False)
        return out

    # -- upkeep: minute ticks, retention, snapshots -----------------------------------------

    def fold(self, below: int) -> None:
        """Add minutes before `below` to the lifetime totals (kept for queries until pruned),
        so that `totals()` only merges the last `FOLD_LAG_MIN` minutes."""
        for minute in sorted(m for m in self._minutes if self._folded_below <= m < below):
            for key, stat in self._minutes[minute].items():
                acc = self._lifetime.get(key)
                if acc is None:
                    acc = self._lifetime[key] = Stat()
                acc.merge(stat, bins=False)
        self._folded_below = max(self._folded_below, below)
        self._hot = {k: v for k, v in self._hot.items() if k[0] >= self._folded_below}
        self._hot_gauges = {k: v for k, v in self._hot_gauges.items() if k[0] >= self._folded_below}

    def prune(self, now_minute: int) -> None:
        """Drop minutes older than the retention window (their totals are kept)."""
        oldest = now_minute - self.retention_min
        self.fold(oldest)
        for minute in [m for m in self._minutes if m < oldest]:
            del self._minutes[minute]

    def start(self) -> None:
        self._load()
        self._task = asyncio.get_running_loop().create_task(self._tick(), name="lamina-metrics")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._save()

    async def _tick(self) -> None:
        while True:
            now = self.clock()
            await asyncio.sleep(60 - now % 60 + 0.001)   # just after the next minute starts
            minute = int(self.clock() // 60)
            self.carry(minute)
            # An invocation writes into its start minute when it ends, up to 15 min later.
            self.fold(minute - FOLD_LAG_MIN)
            self.prune(minute)
            for stat in list(self._minutes.get(minute - 1, {}).values()):
                stat.settle()             # bin the last minute's samples off the warm path
                await asyncio.sleep(0)

    def snapshot(self) -> dict[str, Any]:
        return {"version": 2, "folded_below": self._folded_below,
                "lifetime": [[*k, s.dump()] for k, s in self._lifetime.items()],
                "minutes": {str(m): [[*k, s.dump()] for k, s in b.items()]
                            for m, b in self._minutes.items()}}

    def restore(self, doc: dict[str, Any]) -> None:
        def rows(items: list[list[Any]]) -> Iterator[tuple[Key, Stat]]:
            for row in items:
                if row[0] in METRICS:
                    yield (row[0], row[1], row[2], row[3]), Stat.load(row[4])
        if doc.get("version") != 2:
            raise ValueError(f"unknown metrics snapshot version {doc.get('version')!r}")
        self._folded_below = int(doc.get("folded_below", 0))
        self._lifetime = dict(rows(doc.get("lifetime", [])))
        self._minutes = {int(m): dict(rows(items)) for m, items in doc.get("minutes", {}).items()}
        self.prune(int(self.clock() // 60))

    async def _save(self) -> None:
        if self.path is None:
            return
        text = json.dumps(self.snapshot(), separators=(",", ":"))   # on the loop: a consistent copy
        path = self.path

        def write() -> None:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(path)
        try:
            await asyncio.to_thread(write)
        except OSError:
            log.exception("could not save metrics to %s", path)

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            self.restore(json.loads(self.path.read_text()))
        except (OSError, ValueError, TypeError, KeyError, IndexError):
            log.exception("ignoring unreadable metrics snapshot %s", self.path)


def _copy(stat: Stat) -> Stat:
    out = Stat()
    out.merge(stat, bins=False)
    return out


def _dimension_tuple(dimensions: dict[str, str]) -> tuple[str | None, str | None, str | None] | None:
    names = set(dimensions)
    for n in range(4):
        if names == set(DIMENSION_NAMES[:n]):
            values = [dimensions[d] for d in DIMENSION_NAMES[:n]]
            return (*values, *[None] * (3 - n))  # type: ignore[return-value]
    return None

"""Cost of recording metrics on the warm path, in ns per call (no server, no I/O).

One warm invocation makes two recordings: admission's concurrency hook (+1 at
admit, -1 at release: the concurrency gauges) and `Metrics.invoked`
(Invocations, Errors, Duration). Each is timed in a loop against an empty loop,
best of 15 runs; a plain dict update is timed alongside as a yardstick for how
fast the machine was at the time. Writes bench/results/metrics.json.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from _harness import env_int, write

from lamina.invoke.admission import Admission
from lamina.observe.metrics import Metrics


@dataclass
class _Result:
    function_error: str | None
    duration_ms: float


class _WarmPool:
    """Every admission finds a warm environment (the warm path)."""

    def idle_count(self, key: str) -> int:
        return 1

    def provisioned_idle(self, key: str) -> int:
        return 0

    def provisioned_size(self, key: str) -> int:
        return 0


def _ns_per(fn: Callable[[int], None], n: int) -> float:
    best = float("inf")
    for _ in range(15):                        # best of 15: scheduler noise only adds
        t = time.perf_counter_ns()
        fn(n)
        best = min(best, (time.perf_counter_ns() - t) / n)
    return best


def main() -> None:
    n = env_int("BENCH_RUNS", 50_000)
    metrics = Metrics()
    adm = Admission(1000, pool=_WarmPool())
    adm.metrics = metrics
    ticket = adm.admit("f", "3", "live", "k")        # a real ticket; stays admitted
    ok, failed = _Result(None, 12.5), _Result("Unhandled", 40.0)
    table: dict[str, int] = {}

    def empty(k: int) -> None:
        for _ in range(k):
            pass

    def dict_update(k: int) -> None:     # the yardstick: one `d[x] = d.get(x, 0) + 1`
        for _ in range(k):
            table["x"] = table.get("x", 0) + 1

    def invoked(k: int) -> None:
        for i in range(k):
            metrics.invoked(ticket, failed if i % 10 == 0 else ok)

    def concurrency(k: int) -> None:     # what admit + release add
        for _ in range(k):
            metrics.concurrency(adm, ticket, 1)
            metrics.concurrency(adm, ticket, -1)

    def throttled(k: int) -> None:
        for _ in range(k):
            metrics.throttled("f", None)

    base = _ns_per(empty, n)
    figures = {name: round(_ns_per(fn, n) - base) for name, fn in (
        ("dict_update_ns", dict_update), ("invoked_ns", invoked),
        ("concurrency_admit_release_ns", concurrency), ("throttled_ns", throttled))}
    figures["per_warm_invocation_ns"] = figures["invoked_ns"] + figures["concurrency_admit_release_ns"]
    figures["records"] = n
    print(figures)
    write("metrics", figures)


if __name__ == "__main__":
    main()

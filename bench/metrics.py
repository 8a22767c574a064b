"""Cost of recording metrics on the warm path, in ns per call (no server, no I/O).

Measures what one warm invocation adds: `Metrics.invoked` (Invocations, Errors,
Duration), and admission's admit+release with and without the metrics hook (the
concurrency gauges), against a baseline loop doing nothing. Writes
bench/results/metrics.json.
"""

from __future__ import annotations

import time
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


class _NoMetrics(Metrics):
    def concurrency(self, admission: object, ticket: object, delta: int) -> None:
        pass


def _ns_per(fn, n: int) -> float:  # type: ignore[no-untyped-def]
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
    bare = Admission(1000, pool=_WarmPool())
    bare.metrics = _NoMetrics()
    ticket = adm.admit("f", "3", "live", "k")
    ticket.release()
    ok, failed = _Result(None, 12.5), _Result("Unhandled", 40.0)

    def empty(k: int) -> None:
        for _ in range(k):
            pass

    def invoked(k: int) -> None:
        for i in range(k):
            metrics.invoked(ticket, failed if i % 10 == 0 else ok)

    def admit(a: Admission) -> object:
        def run(k: int) -> None:
            for _ in range(k):
                a.admit("f", "3", "live", "k").release()
        return run

    table: dict[str, int] = {}

    def dict_update(k: int) -> None:     # the yardstick: one `d[x] = d.get(x, 0) + 1`
        for _ in range(k):
            table["x"] = table.get("x", 0) + 1

    base = _ns_per(empty, n)
    yardstick = _ns_per(dict_update, n) - base
    rec = _ns_per(invoked, n) - base
    with_hook = _ns_per(admit(adm), n) - base
    without = _ns_per(admit(bare), n) - base
    figures = {"records": n, "dict_update_ns": round(yardstick), "invoked_ns": round(rec), "admit_release_with_metrics_ns": round(with_hook),
               "admit_release_without_metrics_ns": round(without),
               "metrics_per_warm_invocation_ns": round(rec + with_hook - without)}
    print(figures)
    write("metrics", figures)


if __name__ == "__main__":
    main()

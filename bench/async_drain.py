#!/usr/bin/env python3
"""How fast the async queue drains 10,000 queued events, beside the sync invoke rate.

1. A server starts, a Python echo function is created, and the server stops.
2. 10,000 events are written to its queue with `EventStore.add` (what an
   `Event` invoke does once the request is validated), so that the drain is
   measured alone rather than racing the client that enqueues.
3. The server starts again and drains them; the queue depth is sampled every
   20 ms. Reported: the whole drain (from process start, cold starts included)
   and the steady rate between 90 % and 10 % left.
4. In the same server, the synchronous rate: boto3 `Invoke` calls from 1 and
   from 8 client threads.
Every event's invocation is checked in the function's log (one REPORT line each).

Run: python3 bench/async_drain.py  (BENCH_EVENTS=10000 BENCH_SYNC=2000)
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _harness import ROLE, ROOT, BenchServer, env_int, write, zip_of

sys.path.insert(0, str(ROOT))
from lamina.invoke.queue import EventStore

ECHO = "def handler(event, context):\n    return event\n"


def depth(db: Path) -> int:
    with sqlite3.connect(db, timeout=5) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def sync_rate(client: object, threads: int, total: int) -> float:
    def call(_: int) -> None:
        resp = client.invoke(FunctionName="drain", Payload=b'{"sync": true}')  # type: ignore[attr-defined]
        assert resp["StatusCode"] == 200 and "FunctionError" not in resp

    call(0)
    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(call, range(total)))
    return total / (time.perf_counter() - t)


def report_lines(logs: Path) -> int:
    return sum(line.split("\t", 1)[-1].startswith("REPORT RequestId:")
               for f in logs.rglob("*") if f.is_file()
               for line in f.read_text(errors="replace").splitlines())


def main() -> None:
    events = env_int("BENCH_EVENTS", 10000)
    sync_calls = env_int("BENCH_SYNC", 2000)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        first = BenchServer(data_dir=data)
        first.client.create_function(FunctionName="drain", Runtime="python3.12", Role=ROLE,
                                     Handler="handler.handler", Code={"ZipFile": zip_of({"handler.py": ECHO})})
        first.client.get_waiter("function_active_v2").wait(FunctionName="drain",
                                                           WaiterConfig={"Delay": 0.1})
        first.close()

        store = EventStore(data / "events.db")
        t = time.perf_counter()
        for i in range(events):
            store.add("drain", None, str(uuid.uuid4()), json.dumps({"i": i}).encode())
        enqueue_s = time.perf_counter() - t
        store.close()

        server = BenchServer(data_dir=data)
        samples: list[tuple[float, int]] = []
        while True:
            left = depth(data / "events.db")
            samples.append((time.perf_counter() - server.started, left))
            if left == 0:
                break
            time.sleep(0.02)
        total_s = samples[-1][0]
        hi = next(s for s in samples if s[1] <= events * 0.9)
        lo = next(s for s in samples if s[1] <= events * 0.1)
        steady = (hi[1] - lo[1]) / (lo[0] - hi[0]) if lo[0] > hi[0] else float("nan")

        sequential = sync_rate(server.client, 1, min(sync_calls, 1000))
        parallel = sync_rate(server.client, 8, sync_calls)
        time.sleep(1.0)                      # the log flusher runs every 250 ms
        server.close()
        invoked = report_lines(data / "logs")
        expected = events + min(sync_calls, 1000) + sync_calls + 2     # + sync calls and warm-ups
        assert invoked >= expected, f"only {invoked} REPORT lines for {expected} invocations"

    write("async_drain", {
        "events": events,
        "cpus": os.cpu_count(),
        "enqueue_events_per_s_store_only": round(events / enqueue_s),
        "async_drain_total_s_from_process_start": round(total_s, 2),
        "async_drain_events_per_s_overall": round(events / total_s),
        "async_drain_events_per_s_steady_90_to_10pct": round(steady),
        "sync_invokes_per_s_1_client_thread": round(sequential),
        "sync_invokes_per_s_8_client_threads": round(parallel),
        "drain_curve_s_left": [(round(t, 2), n) for t, n in samples[::max(1, len(samples) // 20)]],
        "function_invocations_logged": invoked,
    })


if __name__ == "__main__":
    main()

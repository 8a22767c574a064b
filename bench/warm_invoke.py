#!/usr/bin/env python3
"""Warm invocation latency of a Python hello world, beside `python3 -c pass` in the same run.

Run: python3 bench/warm_invoke.py  (BENCH_RUNS=500)
"""

from __future__ import annotations

import time

from _harness import BenchServer, env_int, spawn_baseline, summary, write

HELLO = "def handler(event, context):\n    return {'hello': 'world'}\n"


def main() -> None:
    runs = env_int("BENCH_RUNS", 500)
    baseline = spawn_baseline(["/usr/bin/python3", "-c", "pass"], 30)
    server = BenchServer()
    try:
        server.create("warm", {"handler.py": HELLO})
        server.client.invoke(FunctionName="warm", Payload=b"{}")      # the one cold start
        samples = []
        for _ in range(runs):
            t = time.perf_counter()
            server.client.invoke(FunctionName="warm", Payload=b"{}")
            samples.append((time.perf_counter() - t) * 1000)
    finally:
        server.close()
    write("warm_invoke", {"baseline_python3_c_pass": summary(baseline), "warm_invoke_client": summary(samples)})


if __name__ == "__main__":
    main()

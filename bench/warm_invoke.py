#!/usr/bin/env python3
"""Warm invocation latency of a Python hello world, beside `python3 -c pass` in the same run.

Measured at 128 MB (AWS's default, which gets 128/1769 of a vCPU, so the CPU cap is
part of the figure, as on AWS) and at 1,769 MB (one full vCPU: the platform's own
overhead). Run: python3 bench/warm_invoke.py  (BENCH_RUNS=500)
"""

from __future__ import annotations

import time

from _harness import BenchServer, env_int, spawn_baseline, summary, write

HELLO = "def handler(event, context):\n    return {'hello': 'world'}\n"


def main() -> None:
    runs = env_int("BENCH_RUNS", 500)
    baseline = spawn_baseline(["/usr/bin/python3", "-c", "pass"], 30)
    server = BenchServer()
    results = {"baseline_python3_c_pass": summary(baseline)}
    try:
        for memory in (128, 1769):
            name = f"warm-{memory}"
            server.create(name, {"handler.py": HELLO}, MemorySize=memory)
            server.client.invoke(FunctionName=name, Payload=b"{}")      # the one cold start
            samples = []
            for _ in range(runs):
                t = time.perf_counter()
                server.client.invoke(FunctionName=name, Payload=b"{}")
                samples.append((time.perf_counter() - t) * 1000)
            key = "warm_invoke_client" if memory == 128 else f"warm_invoke_client_{memory}mb"
            results[key] = summary(samples)
    finally:
        server.close()
    write("warm_invoke", results)


if __name__ == "__main__":
    main()

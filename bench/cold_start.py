#!/usr/bin/env python3
"""Cold start of a Python hello-world function, beside `python3 -c pass` in the same run.

Each sample forces a new environment (a configuration change retires the warm
one) and measures the client-side Invoke latency and the Init Duration the
REPORT line gives. The same again on a second server started with `--prewarm 2`
(cold starts take a pre-warmed runtime, lamina.pool.prewarm; the background
refill has to keep up with back-to-back cold starts).
Run: python3 bench/cold_start.py  (BENCH_RUNS=30)
"""

from __future__ import annotations

import base64
import re
import statistics
import sys
import time

from _harness import BenchServer, env_int, spawn_baseline, summary, write

HELLO = "def handler(event, context):\n    return {'hello': 'world'}\n"


def measure(server: BenchServer, runs: int) -> tuple[list[float], list[float]]:
    """Client-side latency and Init Duration of `runs` cold starts of one function."""
    server.create("cold", {"handler.py": HELLO})
    invoke_ms, init_ms = [], []
    for i in range(runs):
        server.client.update_function_configuration(FunctionName="cold",
                                                    Environment={"Variables": {"RUN": str(i)}})
        server.client.get_waiter("function_updated_v2").wait(FunctionName="cold",
                                                             WaiterConfig={"Delay": 0.05})
        t = time.perf_counter()
        resp = server.client.invoke(FunctionName="cold", Payload=b"{}", LogType="Tail")
        invoke_ms.append((time.perf_counter() - t) * 1000)
        log = base64.b64decode(resp["LogResult"]).decode()
        m = re.search(r"Init Duration: ([\d.]+) ms", log)
        if not m:
            sys.exit(f"run {i} was not a cold start:\n{log}")
        init_ms.append(float(m.group(1)))
    return invoke_ms, init_ms


def main() -> None:
    runs = env_int("BENCH_RUNS", 30)
    baseline = spawn_baseline(["/usr/bin/python3", "-c", "pass"], runs)
    server = BenchServer("--prewarm", "0")   # the ordinary cold start
    try:
        invoke_ms, init_ms = measure(server, runs)
    finally:
        server.close()
    server = BenchServer("--prewarm", "2")
    try:
        # The first cold start makes python3.12 wanted; its slots fill in the background.
        server.create("warmup", {"handler.py": HELLO})
        server.client.invoke(FunctionName="warmup", Payload=b"{}")
        time.sleep(1.0)
        pw_invoke_ms, pw_init_ms = measure(server, runs)
    finally:
        server.close()
    write("cold_start", {"baseline_python3_c_pass": summary(baseline),
                         "cold_invoke_client": summary(invoke_ms), "init_duration": summary(init_ms),
                         "prewarm_cold_invoke_client": summary(pw_invoke_ms),
                         "prewarm_init_duration": summary(pw_init_ms)})
    print(f"median ms: python3 -c pass {statistics.median(baseline):.1f} | "
          f"Init Duration {statistics.median(init_ms):.1f}, with --prewarm 2 "
          f"{statistics.median(pw_init_ms):.1f} | Invoke (client) {statistics.median(invoke_ms):.1f}, "
          f"with --prewarm 2 {statistics.median(pw_invoke_ms):.1f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Cold start of a Python hello-world function, beside `python3 -c pass` in the same run.

Each sample forces a new environment (a configuration change retires the warm
one) and measures the client-side Invoke latency and the Init Duration the
REPORT line gives. Run: python3 bench/cold_start.py  (BENCH_RUNS=30)
"""

from __future__ import annotations

import base64
import re
import sys
import time

from _harness import BenchServer, env_int, spawn_baseline, summary, write

HELLO = "def handler(event, context):\n    return {'hello': 'world'}\n"


def main() -> None:
    runs = env_int("BENCH_RUNS", 30)
    baseline = spawn_baseline(["/usr/bin/python3", "-c", "pass"], runs)
    server = BenchServer()
    try:
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
    finally:
        server.close()
    write("cold_start", {"baseline_python3_c_pass": summary(baseline),
                         "cold_invoke_client": summary(invoke_ms), "init_duration": summary(init_ms)})


if __name__ == "__main__":
    main()

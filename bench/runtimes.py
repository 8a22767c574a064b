#!/usr/bin/env python3
"""Cold start and warm invoke latency per language, beside each language's bare start-up.

For python3.12, nodejs20.x, ruby3.3, java17, dotnet8 and provided.al2023 (Go) it deploys the
behaviour suite's function (tests/integration/test_runtime_suite.py, built by the suite's own
helpers, cached under LAMINA_TEST_CACHE) and measures, through a real server:

- cold start: BENCH_RUNS (default 10) forced cold starts, each after a configuration change
  retires the warm environment (as bench/cold_start.py does): client-side Invoke latency and
  the REPORT line's Init Duration;
- warm invoke: BENCH_WARM (default 200) invokes of one warm environment, client side;
- baseline: starting the bare interpreter BENCH_RUNS times, alternating with the cold starts (python3 -c pass,
  node -e 0, ruby -e 0, java -Xshare:auto with a trivial main class on the JDK that runs java17,
  mono with a trivial exe, a static Go hello binary).

Memory size is BENCH_MEMORY (default 1769 MB): the size at which AWS, and Lamina's CPU quota,
give a function one whole vCPU, so the cold starts compare with the unthrottled baselines.
Every invoke sends {"action": "echo", "data": {"hello": "world"}}.

Run: python3 bench/runtimes.py   → prints a table, writes bench/results/runtimes.json.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import ROLE, ROOT, BenchServer, env_int, spawn_baseline, summary, write

sys.path.insert(0, str(ROOT))

from lamina.runtimes.dotnet import FAMILY_CLASS as DotnetFamily
from lamina.runtimes.interpreters import find_python
from lamina.runtimes.java import FAMILY_CLASS as JavaFamily
from tests.conftest import make_zip
from tests.integration import test_runtime_suite as suite

EVENT = json.dumps({"action": "echo", "data": {"hello": "world"}}).encode()
INIT = re.compile(r"Init Duration: ([\d.]+) ms")

JAVA_MAIN = "public class Hello { public static void main(String[] a) { } }\n"
CS_MAIN = "public static class Hello { public static void Main() { } }\n"
GO_MAIN = 'package main\n\nimport "os"\n\nfunc main() { os.Stdout.WriteString("hello\\n") }\n'


def _java_baseline(work: Path) -> list[str]:
    """java with a trivial main class, on the JDK and with -Xshare:auto as our java17 runtime."""
    java = JavaFamily({}).jdk_for("java17").java
    (work / "Hello.java").write_text(JAVA_MAIN)
    subprocess.run([str(java.parent / "javac"), "-d", str(work), str(work / "Hello.java")], check=True)
    return [str(java), "-Xshare:auto", "-cp", str(work), "Hello"]


def _mono_baseline(work: Path) -> list[str]:
    (work / "hello.cs").write_text(CS_MAIN)
    subprocess.run(["mcs", "-nologo", f"-out:{work / 'hello.exe'}", str(work / "hello.cs")], check=True)
    return [shutil.which("mono") or "mono", str(work / "hello.exe")]


def _go_baseline(work: Path) -> list[str]:
    (work / "main.go").write_text(GO_MAIN)
    (work / "go.mod").write_text("module hello\n\ngo 1.21\n")
    go = shutil.which("go") or "/usr/local/go/bin/go"
    subprocess.run([go, "build", "-o", "hello", "."], cwd=work, check=True,
                   env={"PATH": "/usr/bin:/bin", "HOME": str(work), "CGO_ENABLED": "0",
                        "GOCACHE": str(work / ".gocache"), "GOFLAGS": "-mod=mod"})
    return [str(work / "hello")]


def _python_baseline(work: Path) -> list[str]:
    return [str(find_python("python3.12").path), "-c", "pass"]


def _which(argv: list[str]) -> Callable[[Path], list[str]]:
    return lambda work: [shutil.which(argv[0]) or argv[0], *argv[1:]]


# runtime → (baseline label, baseline argv builder, the suite's Case)
CASES = {case.runtime: case for case in suite.CASES}
BASELINES: dict[str, tuple[str, Callable[[Path], list[str]]]] = {
    "python3.12": ("python3 -c pass", _python_baseline),
    "nodejs20.x": ("node -e 0", _which(["node", "-e", "0"])),
    "ruby3.3": ("ruby -e 0", _which(["ruby", "-e", "0"])),
    "java17": ("java -Xshare:auto Hello", _java_baseline),
    "dotnet8": ("mono hello.exe", _mono_baseline),
    "provided.al2023": ("static Go hello", _go_baseline),
}


def _available(runtime: str) -> bool:
    needs = CASES[runtime].needs
    return needs is None or shutil.which(needs) is not None or (needs == "go" and Path("/usr/local/go/bin/go").exists())


def _invoke(server: BenchServer, name: str, tail: bool = False) -> tuple[float, dict[str, Any]]:
    t = time.perf_counter()
    resp = server.client.invoke(FunctionName=name, Payload=EVENT, **({"LogType": "Tail"} if tail else {}))
    elapsed = (time.perf_counter() - t) * 1000
    body = resp["Payload"].read()
    if "FunctionError" in resp or json.loads(body) != {"hello": "world"}:
        sys.exit(f"{name}: unexpected answer {body[:500]!r}")
    return elapsed, resp


def measure(server: BenchServer, runtime: str, runs: int, warm_runs: int, memory: int) -> dict[str, Any]:
    case = CASES[runtime]
    label, baseline_argv = BASELINES[runtime]
    name = f"bench-{runtime.replace('.', '-')}"
    server.client.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=case.handler,
                                  Code={"ZipFile": make_zip(case.files(), case.modes)},
                                  MemorySize=memory, Timeout=60)
    server.client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    _invoke(server, name)  # the first one may build the runtime's caches (CDS archive, AOT images)
    baseline, invoke_ms, init_ms = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        argv = baseline_argv(Path(tmp))
        spawn_baseline(argv, 2)  # page cache, not start-up
        for i in range(runs):
            # one bare start per cold start, alternating, so a busy moment on the host weighs on both
            baseline += spawn_baseline(argv, 1)
            server.client.update_function_configuration(FunctionName=name,
                                                        Environment={"Variables": {"RUN": str(i)}})
            server.client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.05})
            elapsed, resp = _invoke(server, name, tail=True)
            m = INIT.search(base64.b64decode(resp["LogResult"]).decode())
            if not m:
                sys.exit(f"{runtime} run {i} was not a cold start")
            invoke_ms.append(elapsed)
            init_ms.append(float(m.group(1)))
    warm = [_invoke(server, name)[0] for _ in range(warm_runs)]
    server.client.delete_function(FunctionName=name)
    return {"baseline": {"command": label, **summary(baseline)}, "cold_invoke_client": summary(invoke_ms),
            "init_duration": summary(init_ms), "warm_invoke_client": summary(warm)}


def table(results: dict[str, Any]) -> str:
    head = (f"{'runtime':<16} {'bare start':>12} {'cold invoke':>17} {'Init Duration':>17} {'warm invoke':>15}\n"
            f"{'':<16} {'median':>12} {'median / p99':>17} {'median / p99':>17} {'median / p99':>15}")
    rows = [head]
    for runtime, r in results.items():
        if "skipped" in r:
            rows.append(f"{runtime:<16} skipped: {r['skipped']}")
            continue
        b, c, i, w = r["baseline"], r["cold_invoke_client"], r["init_duration"], r["warm_invoke_client"]
        rows.append(f"{runtime:<16} {b['median_ms']:>10.1f}ms {c['median_ms']:>8.1f} / {c['p99_ms']:<6.1f} "
                    f"{i['median_ms']:>8.1f} / {i['p99_ms']:<6.1f} {w['median_ms']:>6.2f} / {w['p99_ms']:<6.2f}")
    return "\n".join(rows) + "\n(all times ms; bare start = the language's interpreter with nothing to do)"


def main() -> None:
    runs, warm_runs, memory = env_int("BENCH_RUNS", 10), env_int("BENCH_WARM", 200), env_int("BENCH_MEMORY", 1769)
    wanted = [r for r in BASELINES if _available(r)]
    results: dict[str, Any] = {r: {"skipped": f"{CASES[r].needs} is not installed"} for r in BASELINES if r not in wanted}
    # Build every function before the server starts, so no compile competes with a measurement.
    for runtime in wanted:
        CASES[runtime].files()
    if "java17" in wanted:
        JavaFamily({}).warm()
    if "dotnet8" in wanted:
        DotnetFamily({}).warm()
    server = BenchServer()
    try:
        for runtime in wanted:
            results[runtime] = measure(server, runtime, runs, warm_runs, memory)
            print(f"{runtime}: done", file=sys.stderr)
    finally:
        server.close()
    ordered = {r: results[r] for r in BASELINES}
    write("runtimes", {"memory_mb": memory, "runs": runs, "warm_runs": warm_runs, "runtimes": ordered})
    print(table(ordered))


if __name__ == "__main__":
    main()

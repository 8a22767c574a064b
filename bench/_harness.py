"""Shared bench plumbing: a real server, a function, percentiles, JSON results."""

from __future__ import annotations

import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ROLE = "arn:aws:iam::000000000000:role/bench"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "median_ms": round(statistics.median(values), 2),
            "p99_ms": round(percentile(values, 99), 2), "min_ms": round(min(values), 2)}


def zip_of(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return buf.getvalue()


class BenchServer:
    def __init__(self, *args: str, data_dir: Path | None = None) -> None:
        """`lamina server *args` on a free port; a temporary data dir unless one is given
        (a benchmark that restarts the server on the same data passes its own)."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.tmp = tempfile.TemporaryDirectory() if data_dir is None else None
        data = Path(self.tmp.name) if self.tmp is not None else data_dir
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lamina.cli.main", "server", "--port", str(self.port),
             "--data-dir", str(data), *args], cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.1).close()
                break
            except OSError:
                time.sleep(0.02)
        self.client = boto3.client(
            "lambda", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
            config=Config(retries={"total_max_attempts": 1}, max_pool_connections=64))

    def create(self, name: str, files: dict[str, str], runtime: str = "python3.12",
               handler: str = "handler.handler", **kw: object) -> None:
        self.client.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                                    Code={"ZipFile": zip_of(files)}, **kw)
        self.client.get_waiter("function_active_v2").wait(FunctionName=name,
                                                          WaiterConfig={"Delay": 0.1})

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        if self.tmp is not None:
            self.tmp.cleanup()


def spawn_baseline(argv: list[str], runs: int) -> list[float]:
    """Wall time of starting a bare interpreter, in ms."""
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        out.append((time.perf_counter() - t) * 1000)
    return out


def write(name: str, data: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2))
    print(json.dumps(data, indent=2))


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))

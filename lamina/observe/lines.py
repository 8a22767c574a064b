"""The platform's own log lines, in AWS's text format (tab-separated fields)."""

from __future__ import annotations

import datetime as dt
import math


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def report_line(request_id: str, duration_ms: float, memory_mb: int, max_used_mb: int,
                init_ms: float | None = None, status: str | None = None) -> str:
    fields = [f"REPORT RequestId: {request_id}", f"Duration: {duration_ms:.2f} ms",
              f"Billed Duration: {max(1, math.ceil(duration_ms))} ms",
              f"Memory Size: {memory_mb} MB", f"Max Memory Used: {max_used_mb} MB"]
    if init_ms is not None:
        fields.append(f"Init Duration: {init_ms:.2f} ms")
    if status:
        fields.append(f"Status: {status}")
    return "\t".join(fields) + "\t"


def timeout_line(request_id: str, timeout_s: float) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{dt.datetime.now(dt.UTC).microsecond // 1000:03d}Z"
    return f"{now} {request_id} Task timed out after {timeout_s:.2f} seconds"


def init_start_line(runtime: str, runtime_version_arn: str) -> str:
    return f"INIT_START Runtime Version: {runtime}.lamina\tRuntime Version ARN: {runtime_version_arn}"

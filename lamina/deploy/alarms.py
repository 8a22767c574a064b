"""Alarm sources for a deployment: is the new version misbehaving?

An `AlarmSource` is asked `start()` once when the deployment begins and `check()`
between steps; `check()` returns a reason when the alarm is firing, else None. Both
sources read only public AWS APIs on whatever endpoint their boto3 client points at,
so they work against Lamina and against AWS alike:

- `MetricAlarm` reads an `AWS/Lambda` metric of the target version
  (`GetMetricStatistics`, dimensions FunctionName + Resource=`fn:alias` +
  ExecutedVersion — the set Lambda publishes for invocations through an alias).
- `LogErrorsAlarm` reads the function's log group (`FilterLogEvents`) and counts the
  target version's failed requests from its log streams (`…/[<version>]…`).

Neither is a CloudWatch *alarm* resource (no PutMetricAlarm / DescribeAlarms): the
threshold is evaluated here, once per check, as `value > threshold` (CloudWatch's
GreaterThanThreshold; `MetricAlarm` also does ≥) over everything since the deployment
started.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

NAMESPACE = "AWS/Lambda"
ADDITIVE = ("Sum", "SampleCount")


class AlarmSource(Protocol):
    def start(self) -> None:
        """The deployment begins now: remember what is already there (a baseline)."""

    def check(self) -> str | None:
        """A human-readable reason if the alarm is firing, else None. May raise on I/O errors."""


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class MetricAlarm:
    """`statistic(metric)` of the target version since the deployment started > threshold
    (≥ with `inclusive`).

    CloudWatch data is per minute, so the query window starts at the minute the
    deployment started; for additive statistics (Sum, SampleCount) the value already
    there at `start()` is subtracted, so earlier traffic in that minute does not count."""

    def __init__(self, cloudwatch: Any, function: str, alias: str, version: str,
                 metric: str = "Errors", threshold: float = 0.0, statistic: str = "Sum",
                 inclusive: bool = False, wall: Callable[[], float] = time.time) -> None:
        self.cloudwatch = cloudwatch
        self.function, self.alias, self.version = function, alias, version
        self.metric, self.threshold, self.statistic = metric, threshold, statistic
        self.inclusive = inclusive      # GreaterThanOrEqualToThreshold instead of GreaterThan
        self.wall = wall
        self.window_start = 0.0
        self.baseline = 0.0

    def _value(self) -> float:
        now = self.wall()
        # One period spanning the whole window gives one data point (periods are multiples of 60).
        period = max(60, math.ceil((now + 60 - self.window_start) / 60) * 60)
        resp = self.cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE, MetricName=self.metric,
            Dimensions=[{"Name": "FunctionName", "Value": self.function},
                        {"Name": "Resource", "Value": f"{self.function}:{self.alias}"},
                        {"Name": "ExecutedVersion", "Value": self.version}],
            StartTime=_utc(self.window_start), EndTime=_utc(self.window_start + period),
            Period=period, Statistics=[self.statistic])
        values = [float(p[self.statistic]) for p in resp.get("Datapoints", [])
                  if self.statistic in p]
        if not values:
            return 0.0
        if self.statistic in ADDITIVE:
            return sum(values)
        return min(values) if self.statistic == "Minimum" else max(values)

    def start(self) -> None:
        self.window_start = self.wall() // 60 * 60
        self.baseline = self._value() if self.statistic in ADDITIVE else 0.0

    def check(self) -> str | None:
        value = self._value() - self.baseline
        if value > self.threshold or self.inclusive and value == self.threshold:
            return (f"{self.metric} {self.statistic} of {self.function}:{self.alias} version "
                    f"{self.version} is {value:g} (threshold {self.threshold:g})")
        return None


# Lines that mark a failed request in Lambda's text log format, across runtimes.
_START = re.compile(r"^START RequestId: (\S+)")
_REPORT_FAILED = re.compile(r"^REPORT RequestId: (\S+).*\tStatus: (error|timeout)")
_ERROR_LINES = (
    re.compile(r"^\[ERROR\] "),                        # Python's unhandled error (not logger.error)
    re.compile(r"\tERROR\tInvoke Error \t?"),         # Node.js
    re.compile(r"Task timed out after [\d.]+ seconds"),
)


def _json_line(message: str) -> tuple[str, str | None]:
    """For a JSON-format line: ("start", id), ("failed", id or None) or ("", None)."""
    try:
        doc = json.loads(message)
    except ValueError:
        return "", None
    if not isinstance(doc, dict):
        return "", None
    raw = doc.get("record")
    record: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if doc.get("type") == "platform.start":
        return "start", record.get("requestId")
    if doc.get("type") == "platform.report" and record.get("status") in ("error", "timeout"):
        return "failed", record.get("requestId")
    if doc.get("log_level", doc.get("level")) == "ERROR" and "errorType" in doc:
        return "failed", doc.get("requestId")      # an unhandled error, not a logger.error()
    return "", None


def log_group_of(lambda_client: Any, function: str, version: str) -> str:
    """The version's log group: `LoggingConfig.LogGroup`, else `/aws/lambda/<function>`."""
    config = lambda_client.get_function_configuration(FunctionName=function, Qualifier=version)
    return str((config.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{function}")


class LogErrorsAlarm:
    """Failed requests of the target version, counted from its log streams, > threshold.

    A request counts once however many error lines it printed: lines are attributed to
    the request whose `START` line precedes them in the same stream (an environment
    runs one request at a time), plus `REPORT … Status: error|timeout`. Both the text
    and the JSON log formats are read (`platform.start` / `platform.report` records and
    the runtime's `{"log_level": "ERROR", "errorType": …}` line)."""

    def __init__(self, logs: Any, function: str, version: str, threshold: float = 0.0,
                 group: str | None = None, wall: Callable[[], float] = time.time) -> None:
        self.logs = logs
        self.function, self.version, self.threshold = function, version, threshold
        self.wall = wall
        self.group = group or f"/aws/lambda/{function}"
        self.since_ms = 0

    def start(self) -> None:
        self.since_ms = int(self.wall() * 1000)

    def _events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"logGroupName": self.group, "startTime": self.since_ms}
        while True:
            try:
                resp = self.logs.filter_log_events(**kwargs)
            except self.logs.exceptions.ResourceNotFoundException:
                return []    # nothing has logged yet
            events += resp.get("events", [])
            token = resp.get("nextToken")
            if not token or not resp.get("events"):
                return events
            kwargs["nextToken"] = token

    def failed_requests(self) -> set[str]:
        marker = f"[{self.version}]"
        by_stream: dict[str, list[dict[str, Any]]] = {}
        for event in self._events():
            if marker in event.get("logStreamName", ""):
                by_stream.setdefault(event["logStreamName"], []).append(event)
        failed: set[str] = set()
        for events in by_stream.values():
            events.sort(key=lambda e: (e["timestamp"], e.get("eventId", "")))
            current = None
            for event in events:
                message = event["message"]
                kind, request = _json_line(message) if message.startswith("{") else ("", None)
                if (m := _START.match(message)) or kind == "start":
                    current = m.group(1) if m else request
                elif (m := _REPORT_FAILED.match(message)):
                    failed.add(m.group(1))
                elif kind == "failed" or any(p.search(message) for p in _ERROR_LINES):
                    failed.add(request or current or f"{event['logStreamName']}@{event['timestamp']}")
        return failed

    def check(self) -> str | None:
        count = len(self.failed_requests())
        if count > self.threshold:
            return (f"{count} failed request(s) of {self.function} version {self.version} in "
                    f"{self.group} (threshold {self.threshold:g})")
        return None

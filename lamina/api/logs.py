"""A minimal CloudWatch Logs API (JSON 1.1, `X-Amz-Target: Logs_20140328.*`).

Enough for `aws logs describe-log-streams / get-log-events / filter-log-events /
tail` and `lamina logs` against Lamina's endpoint.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from lamina.errors import LaminaError
from lamina.observe.logs import LogStore

TARGET_PREFIX = "Logs_20140328."


class LogsResourceNotFound(LaminaError):
    code = "ResourceNotFoundException"
    status = 400
    message_field = "message"
    has_type = False

    def body(self) -> dict[str, Any]:
        # JSON 1.1 services name the error in `__type`; botocore reads it from there.
        return {"__type": self.code, **super().body()}


def _group(store: LogStore, params: dict[str, Any]) -> str:
    group = params.get("logGroupName") or params.get("logGroupIdentifier") or ""
    if group not in store.groups():
        raise LogsResourceNotFound("The specified log group does not exist.")
    return group


def handle(store: LogStore, action: str, params: dict[str, Any]) -> dict[str, Any]:
    if action == "DescribeLogGroups":
        prefix = params.get("logGroupNamePrefix", "")
        return {"logGroups": [{"logGroupName": g, "arn": f"log-group:{g}", "storedBytes": 0}
                              for g in store.groups() if g.startswith(prefix)]}
    if action == "DescribeLogStreams":
        group = _group(store, params)
        streams = [{"logStreamName": s, "lastEventTimestamp": int(t * 1000),
                    "lastIngestionTime": int(t * 1000)} for s, t in store.streams(group)]
        return {"logStreams": streams[: int(params.get("limit", 50))]}
    if action == "GetLogEvents":
        group = _group(store, params)
        stored = [{"timestamp": e.timestamp_ms, "message": e.message, "ingestionTime": e.timestamp_ms}
                  for e in store.events(group, params["logStreamName"])]
        if params.get("startFromHead") is False or "startFromHead" not in params:
            stored = stored[-int(params.get("limit", 10000)):]
        return {"events": stored, "nextForwardToken": "f/end", "nextBackwardToken": "b/end"}
    if action == "FilterLogEvents":
        group = _group(store, params)
        start, end = params.get("startTime", 0), params.get("endTime", 1 << 62)
        pattern = params.get("filterPattern", "").strip('"')
        names = params.get("logStreamNames")
        events: list[dict[str, Any]] = []
        for stream, _ in store.streams(group):
            if names and stream not in names:
                continue
            events += [{"logStreamName": stream, "timestamp": e.timestamp_ms, "message": e.message,
                        "ingestionTime": e.timestamp_ms, "eventId": f"{stream}/{i}"}
                       for i, e in enumerate(store.events(group, stream))
                       if start <= e.timestamp_ms <= end and pattern in e.message]
        events.sort(key=lambda e: e["timestamp"])
        return {"events": events[-int(params.get("limit", 10000)):], "searchedLogStreams": []}
    raise LogsResourceNotFound(f"Operation {action} is not supported by Lamina")


async def respond(store: LogStore, target: str, body: bytes) -> web.Response:
    action = target[len(TARGET_PREFIX):]
    params = json.loads(body or b"{}")
    return web.Response(body=json.dumps(handle(store, action, params)).encode(),
                        content_type="application/x-amz-json-1.1")

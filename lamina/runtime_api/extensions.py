"""The Extensions API (2020-01-01), server side, for one environment each.

External extensions are executables in `/opt/extensions/` started with the
environment. Each registers (`POST /extension/register`), then long-polls
`GET /extension/event/next` for INVOKE and SHUTDOWN events. Init ends when the
runtime and every extension have asked for their next event; an environment is
free again only when every extension has come back to `event/next` after an
invocation (AWS's PostRuntimeExtensionsDuration); SHUTDOWN gives them up to
2,000 ms before everything is killed.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

MAX_EXTENSIONS = 10
_EVENTS = {"INVOKE", "SHUTDOWN"}


@dataclass
class Extension:
    id: str
    name: str
    events: set[str]
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    waiting: bool = False       # parked in event/next
    gone: bool = False


class ExtensionsError(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


@dataclass
class Extensions:
    """The extensions of one environment."""

    function_name: str
    function_version: str
    handler: str
    expected: int = 0                        # executables found in /opt/extensions
    registered: dict[str, Extension] = field(default_factory=dict)
    closed: bool = False                     # registration closes after Init
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    init_error: dict[str, Any] | None = None

    def register(self, name: str, events: list[str]) -> Extension:
        if self.closed:
            raise ExtensionsError(403, "Extension.RegistrationClosed", "Registration is closed")
        if not name:
            raise ExtensionsError(403, "Extension.InvalidExtensionName", "Missing extension name")
        if len(self.registered) >= MAX_EXTENSIONS:
            raise ExtensionsError(403, "Extension.TooManyExtensions", "Too many extensions")
        unknown = set(events) - _EVENTS
        if unknown:
            raise ExtensionsError(403, "Extension.InvalidEventType",
                                  f"Invalid event type: {sorted(unknown)[0]}")
        ext = Extension(id=str(uuid.uuid4()), name=name, events=set(events))
        self.registered[ext.id] = ext
        self._touch()
        return ext

    def get(self, ext_id: str | None) -> Extension:
        if not ext_id:
            raise ExtensionsError(403, "Extension.MissingExtensionIdentifier",
                                  "Missing Lambda-Extension-Identifier header")
        ext = self.registered.get(ext_id)
        if ext is None:
            raise ExtensionsError(403, "Extension.UnknownExtensionIdentifier",
                                  "Unknown extension identifier")
        return ext

    async def next_event(self, ext: Extension) -> dict[str, Any]:
        ext.waiting = True
        self._touch()
        try:
            return await ext.queue.get()
        finally:
            ext.waiting = False

    def _touch(self) -> None:
        self.changed.set()

    def all_waiting(self) -> bool:
        live = [e for e in self.registered.values() if not e.gone]
        return len(self.registered) >= self.expected and all(e.waiting for e in live)

    async def wait_all_waiting(self, timeout_s: float) -> bool:
        """Until every extension sits in event/next (or `timeout_s` passes)."""
        deadline = time.monotonic() + timeout_s
        while not self.all_waiting():
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                return self.all_waiting()
        return True

    def emit_invoke(self, request_id: str, deadline_ms: int, arn: str, trace_id: str) -> None:
        event = {"eventType": "INVOKE", "deadlineMs": deadline_ms, "requestId": request_id,
                 "invokedFunctionArn": arn,
                 "tracing": {"type": "X-Amzn-Trace-Id", "value": trace_id}}
        for ext in self.registered.values():
            if "INVOKE" in ext.events:
                ext.queue.put_nowait(event)

    def emit_shutdown(self, reason: str, deadline_ms: int) -> bool:
        """Send SHUTDOWN to those that asked for it; True if anyone did."""
        event = {"eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": deadline_ms}
        sent = False
        for ext in self.registered.values():
            if "SHUTDOWN" in ext.events:
                ext.queue.put_nowait(event)
                sent = True
        return sent


def _error(exc: ExtensionsError) -> web.Response:
    return web.json_response({"errorType": exc.error_type, "errorMessage": exc.message},
                             status=exc.status)


def routes(extensions_of: Any) -> list[tuple[str, str, Any]]:
    """Handlers for the Runtime API server; `extensions_of(request)` finds the environment's."""

    async def register(request: web.Request) -> web.Response:
        exts: Extensions | None = extensions_of(request)
        if exts is None:
            return web.json_response({"errorType": "InternalServerError"}, status=500)
        try:
            body = await request.json()
            if "configurationKeys" in body:
                raise ExtensionsError(400, "InvalidRequestFormat", "configurationKeys is not supported")
            ext = exts.register(request.headers.get("Lambda-Extension-Name", ""),
                                list(body.get("events", [])))
        except ExtensionsError as exc:
            return _error(exc)
        except (ValueError, json.JSONDecodeError):
            return _error(ExtensionsError(400, "InvalidRequestFormat", "Invalid request body"))
        payload: dict[str, Any] = {"functionName": exts.function_name,
                                   "functionVersion": exts.function_version, "handler": exts.handler}
        return web.json_response(payload, headers={"Lambda-Extension-Identifier": ext.id})

    async def next_event(request: web.Request) -> web.Response:
        exts: Extensions | None = extensions_of(request)
        try:
            if exts is None:
                raise ExtensionsError(403, "Extension.UnknownExtensionIdentifier", "Unknown environment")
            ext = exts.get(request.headers.get("Lambda-Extension-Identifier"))
        except ExtensionsError as exc:
            return _error(exc)
        event = await exts.next_event(ext)
        return web.json_response(event, headers={"Lambda-Extension-Event-Identifier": str(uuid.uuid4())})

    async def init_error(request: web.Request) -> web.Response:
        exts: Extensions | None = extensions_of(request)
        try:
            if exts is None:
                raise ExtensionsError(403, "Extension.UnknownExtensionIdentifier", "Unknown environment")
            ext = exts.get(request.headers.get("Lambda-Extension-Identifier"))
        except ExtensionsError as exc:
            return _error(exc)
        body = await request.read()
        exts.init_error = {"errorType": request.headers.get("Lambda-Extension-Function-Error-Type",
                                                            "Extension.Unknown"),
                           "errorMessage": body.decode(errors="replace") or f"extension {ext.name} failed"}
        ext.gone = True
        exts._touch()
        return web.json_response({"status": "OK"}, status=202)

    async def exit_error(request: web.Request) -> web.Response:
        exts: Extensions | None = extensions_of(request)
        if exts is not None:
            ext = exts.registered.get(request.headers.get("Lambda-Extension-Identifier", ""))
            if ext is not None:
                ext.gone = True
                exts._touch()
        return web.json_response({"status": "OK"}, status=202)

    prefix = "/2020-01-01/extension"
    return [("POST", f"{prefix}/register", register), ("GET", f"{prefix}/event/next", next_event),
            ("POST", f"{prefix}/init/error", init_error), ("POST", f"{prefix}/exit/error", exit_error)]

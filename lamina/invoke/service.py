"""Invocation: resolve, check, admit, run in an environment, answer.

Synchronous callers wait for the function; `Event` invocations are written to
the durable queue and answered 202 at once; `DryRun` only checks. Throttling
happens in `admission` before anything is started.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lamina.arns import LATEST
from lamina.control.aliases import Aliases
from lamina.control.code import CodeCache
from lamina.control.functions import Functions
from lamina.control.resolve import Target
from lamina.errors import (
    InvalidRequestContentException,
    RequestEntityTooLargeException,
    ResourceConflictException,
)
from lamina.invoke.admission import Admission
from lamina.pool import blueprint
from lamina.pool.environment import Blueprint, Result
from lamina.pool.pool import Pool
from lamina.runtime_api.channel import Invocation, ResponseStream
from lamina.runtimes.base import LaunchError
from lamina.settings import Settings

log = logging.getLogger("lamina.invoke")

SYNC_LIMIT = 6 * 1024 * 1024
ASYNC_LIMIT = 1024 * 1024


class Runtimes(Protocol):
    def launch(self, ctx: Any) -> Any: ...


class Layers(Protocol):
    def opt_dir(self, layers: list[dict[str, Any]]) -> Path | None: ...


@dataclass
class InvokeRequest:
    function_name: str
    qualifier: str | None = None
    payload: bytes = b""
    invocation_type: str = "RequestResponse"
    log_type: str = "None"
    client_context: str | None = None      # base64 as sent
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    trace_id: str | None = None
    initialization_hint: str | None = None
    # Set for InvokeWithResponseStream / RESPONSE_STREAM URLs: a streaming runtime's bytes
    # flow into it as they arrive (lamina.runtime_api.channel.ResponseStream).
    stream: ResponseStream | None = None


@dataclass
class InvokeResponse:
    status: int
    payload: bytes = b""
    executed_version: str | None = None
    function_error: str | None = None
    log_result: str | None = None
    request_id: str = ""
    result: Result | None = None


_NOT_JSON = "Could not parse request body into json: Could not parse payload into json: "
_JACKSON_AT = ("\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); "
               "line: 1, column: {}]")
_LITERALS = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}


def _jackson_utf8_error(payload: bytes) -> str | None:
    """AWS's parser (Jackson) wording for a payload that is not UTF-8, where known.

    Two shapes are recorded (test_lambda_invoke_payload_encoding_error): a value that
    starts with a C1 control byte ("Unexpected character ((CTRL-CHAR, code 153))…",
    column of that byte) and a literal (null/true/false) broken by a byte that cannot
    start a UTF-8 sequence ("Invalid UTF-8 start byte 0x87", column after it).
    """
    start = len(payload) - len(payload.lstrip(b" \t\r\n"))
    if start == len(payload):
        return None
    first = payload[start]
    if 0x7F <= first <= 0x9F:
        return (f"Unexpected character ((CTRL-CHAR, code {first})): expected a valid value "
                "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
                + _JACKSON_AT.format(start + 1))
    literal = _LITERALS.get(first)
    if literal is None:
        return None
    for offset, expected in enumerate(literal):
        index = start + offset
        if index >= len(payload) or payload[index] == expected:
            continue
        byte = payload[index]
        if (byte & 0xC0) == 0x80 or byte >= 0xF8:
            return f"Invalid UTF-8 start byte 0x{byte:x}" + _JACKSON_AT.format(index + 2)
        return None
    return None


def check_json(payload: bytes) -> None:
    if not payload:
        return
    try:
        json.loads(payload)
    except UnicodeDecodeError as exc:
        detail = (_jackson_utf8_error(payload)
                  or f"Invalid UTF-8 start byte 0x{payload[exc.start]:02x}")
        raise InvalidRequestContentException(_NOT_JSON + detail) from None
    except ValueError as exc:
        raise InvalidRequestContentException(
            "Could not parse request body into json: Could not parse payload into json: "
            f"{exc}") from None


def trace_id() -> str:
    now = int(time.time())
    return f"Root=1-{now:08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


class Invoker:
    def __init__(self, settings: Settings, functions: Functions, aliases: Aliases, pool: Pool,
                 runtimes: Runtimes, code: CodeCache, admission: Admission,
                 layers: Layers | None = None) -> None:
        self.settings = settings
        self.functions = functions
        self.aliases = aliases
        self.pool = pool
        self.runtimes = runtimes
        self.code = code
        self.admission = admission
        self.metrics = admission.metrics    # one registry for the invoke layer (observe/metrics)
        self.layers = layers
        self.queue: Any = None          # lamina.invoke.queue.AsyncQueue, set by the server
        self._blueprints: dict[str, Blueprint] = {}
        self._settling: set[asyncio.Task[None]] = set()

    # -- entry ------------------------------------------------------------------------------

    def target(self, function_name: str, qualifier: str | None) -> Target:
        return self.functions.resolve.target(function_name, qualifier, missing_qualifier=LATEST)

    async def invoke(self, req: InvokeRequest) -> InvokeResponse:
        target = self.target(req.function_name, req.qualifier)
        kind = req.invocation_type
        limit = ASYNC_LIMIT if kind == "Event" else SYNC_LIMIT
        if len(req.payload) > limit:
            if kind == "Event":
                raise RequestEntityTooLargeException(
                    f"{len(req.payload)} byte payload is too large for the Event invocation type "
                    f"(limit {ASYNC_LIMIT} bytes)")
            raise RequestEntityTooLargeException(
                f"Request must be smaller than {SYNC_LIMIT} bytes for the InvokeFunction operation")
        check_json(req.payload)
        config = self.config_for(target)
        if config.get("State") == "Pending":
            raise ResourceConflictException(
                "The operation cannot be performed at this time. The function is currently in the "
                "following state: Pending")
        if kind == "DryRun":
            return InvokeResponse(status=204, request_id=req.request_id)
        if kind == "Event":
            self.queue.enqueue(req.function_name, req.qualifier, req.request_id,
                               req.payload or b"{}")
            return InvokeResponse(status=202, request_id=req.request_id)
        return await self.run(target, config, req)

    def config_for(self, target: Target) -> dict[str, Any]:
        """The version one invocation of `target` runs (a weighted alias picks per call)."""
        version = self.aliases.pick_version(target.alias) if target.alias else target.version
        config = self.functions.resolve.version(target.name, version)
        if config is None:
            raise self.functions.resolve.not_found(target.name, version)
        return config

    # -- the synchronous path ---------------------------------------------------------------

    async def run(self, target: Target, config: dict[str, Any], req: InvokeRequest) -> InvokeResponse:
        version = config["Version"]
        if req.stream is not None:
            req.stream.executed_version = version
        try:
            bp = self.blueprint(config)
        except LaunchError as exc:
            return self._launch_failed(exc, version, req)
        ticket = self.admission.admit(target.name, version, target.qualifier, bp.key)
        try:
            try:
                env, init_ms = await self.pool.acquire(bp)
            except LaunchError as exc:
                return self._launch_failed(exc, version, req)
            try:
                invocation = Invocation(
                    request_id=req.request_id, payload=req.payload or b"{}",
                    deadline_ms=int((time.time() + bp.timeout_s) * 1000),
                    invoked_function_arn=self.functions.arns.function(target.name, target.qualifier),
                    trace_id=req.trace_id or trace_id(),
                    client_context=_decode_client_context(req.client_context),
                    stream=req.stream)
                result = await env.invoke(invocation, init_ms)
                self.metrics.invoked(ticket, result)
            finally:
                if env.unsettled:
                    self._settle_later(env)
                else:
                    self.pool.release(env)
        finally:
            ticket.release()
        return InvokeResponse(
            status=200, payload=result.payload, executed_version=version,
            function_error=result.function_error,
            log_result=result.log_tail if req.log_type == "Tail" else None,
            request_id=req.request_id, result=result)

    def _settle_later(self, env: Any) -> None:
        """Answer the caller now; free the environment once its extensions are done."""
        async def settle() -> None:
            try:
                await env.settle()
            finally:
                self.pool.release(env)
        task = asyncio.get_running_loop().create_task(settle())
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    @staticmethod
    def _launch_failed(exc: LaunchError, version: str, req: InvokeRequest) -> InvokeResponse:
        body = json.dumps({"errorType": exc.error_type,
                           "errorMessage": f"RequestId: {req.request_id} Error: {exc.message}"})
        return InvokeResponse(status=200, payload=body.encode(), executed_version=version,
                              function_error="Unhandled", request_id=req.request_id)

    def blueprint(self, config: dict[str, Any]) -> Blueprint:
        key = f"{config['FunctionName']}/{config['Version']}/{blueprint.config_digest(config)}"
        bp = self._blueprints.get(key)
        if bp is not None:
            return bp
        code_dir = self.code.ensure(config["_code"])
        opt_dir = self.layers.opt_dir(config.get("Layers") or []) if self.layers else None
        launch = self.runtimes.launch(blueprint.launch_context(config, code_dir, opt_dir))
        creds = next(iter(self.settings.credentials.items()))
        bp = blueprint.build(config, self.settings, launch, code_dir, opt_dir, creds)
        self._blueprints[key] = bp
        return bp

    def forget(self, function_name: str) -> None:
        """Drop cached blueprints of a function (its configuration changed)."""
        for key in [k for k, bp in self._blueprints.items() if bp.function_name == function_name]:
            del self._blueprints[key]


def _decode_client_context(value: str | None) -> str | None:
    if not value:
        return None
    import base64
    try:
        return base64.b64decode(value).decode()
    except (ValueError, UnicodeDecodeError):
        return None

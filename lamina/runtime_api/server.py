"""The Runtime API (2018-06-01) server side, for every environment on this machine.

One aiohttp application serves every environment; each environment gets its own
listener on a loopback port, and requests are routed to the environment's
`RuntimeChannel` by the local port they arrived on. The official runtime
interface clients only know `AWS_LAMBDA_RUNTIME_API=host:port`, so a port per
environment is the one way to tell environments apart without a proxy.
"""

from __future__ import annotations

import json
import logging
import weakref
from typing import Any

from aiohttp import web

from lamina.runtime_api import peers
from lamina.runtime_api.channel import Invocation, Outcome, RuntimeChannel
from lamina.runtime_api.extensions import routes as extension_routes

log = logging.getLogger("lamina.runtime_api")

_ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"


def _error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"errorType": error_type, "errorMessage": message}, status=status)


class RuntimeApiServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._channels: dict[int, RuntimeChannel] = {}
        self._sites: dict[str, web.BaseSite] = {}
        self._runner: web.AppRunner | None = None
        # Connections already checked to come from their environment's own sandbox.
        self._verified: weakref.WeakSet[Any] = weakref.WeakSet()

    async def start(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        r = app.router
        r.add_get("/2018-06-01/runtime/invocation/next", self._next)
        r.add_post("/2018-06-01/runtime/invocation/{rid}/response", self._response)
        r.add_post("/2018-06-01/runtime/invocation/{rid}/error", self._invoke_error)
        r.add_post("/2018-06-01/runtime/init/error", self._init_error)
        r.add_get("/2018-06-01/ping", lambda _: web.Response(text="pong"))
        for method, path, handler in extension_routes(self._extensions_of):
            r.add_route(method, path, handler)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=0.5)
        await self._runner.setup()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def open(self, channel: RuntimeChannel) -> str:
        """Start a listener for one environment; returns its `host:port`."""
        assert self._runner is not None, "start() first"
        site = web.TCPSite(self._runner, self.host, 0, reuse_address=True)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._channels[port] = channel
        self._sites[channel.env_id] = site
        channel.port = port
        return f"{self.host}:{port}"

    async def shut(self, channel: RuntimeChannel) -> None:
        site = self._sites.pop(channel.env_id, None)
        self._channels.pop(channel.port, None)
        if site is not None:
            await site.stop()

    def _extensions_of(self, request: web.Request) -> Any:
        channel = self.channel_of(request)
        return channel.extensions if channel is not None else None

    def channel_of(self, request: web.Request) -> RuntimeChannel | None:
        """The environment a request belongs to, or None (unknown port, or a stranger)."""
        transport = request.transport
        sock = transport.get_extra_info("sockname") if transport else None
        channel = self._channels.get(sock[1]) if sock else None
        if channel is None or transport is None or transport in self._verified:
            return channel
        peer = transport.get_extra_info("peername")
        pids = channel.pids() if channel.pids is not None else []
        if pids and peer:
            inode = peers.socket_inode(peer[1], sock[1])
            if inode is None or not peers.held_by(pids, inode):
                log.warning("refused a Runtime API connection from outside environment %s",
                            channel.env_id)
                return None
        self._verified.add(transport)
        return channel

    # -- handlers ---------------------------------------------------------------------------

    async def _next(self, request: web.Request) -> web.StreamResponse:
        channel = self.channel_of(request)
        if channel is None:
            return _error(500, "InternalServerError", "unknown environment")
        inv: Invocation = await channel.next()
        headers = {
            "Lambda-Runtime-Aws-Request-Id": inv.request_id,
            "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": inv.invoked_function_arn,
            "Content-Type": "application/json",
        }
        if inv.trace_id:
            headers["Lambda-Runtime-Trace-Id"] = inv.trace_id
        if inv.client_context:
            headers["Lambda-Runtime-Client-Context"] = inv.client_context
        if inv.cognito_identity:
            headers["Lambda-Runtime-Cognito-Identity"] = inv.cognito_identity
        if inv.tenant_id:
            headers["Lambda-Runtime-Aws-Tenant-Id"] = inv.tenant_id
        return web.Response(body=inv.payload, headers=headers)

    async def _read_limited(self, request: web.Request, limit: int) -> bytes | None:
        chunks, size = [], 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _response(self, request: web.Request) -> web.Response:
        channel = self.channel_of(request)
        rid = request.match_info["rid"]
        if channel is None or channel.current is None or channel.current.request_id != rid:
            return _error(400, "InvalidRequestID", "Invalid request ID")
        body = await self._read_limited(request, channel.response_limit)
        if body is None:
            limit = channel.response_limit
            payload = json.dumps({
                "errorMessage": f"Response payload size exceeded maximum allowed payload size "
                                f"({limit} bytes).",
                "errorType": "Function.ResponseSizeTooLarge"}).encode()
            channel.finish(rid, Outcome(ok=False, payload=payload,
                                        error_type="Function.ResponseSizeTooLarge", too_large=True))
            return _error(413, "RequestEntityTooLarge",
                          f"Exceeded maximum allowed payload size ({limit} bytes).")
        channel.finish(rid, Outcome(ok=True, payload=body))
        return web.json_response({"status": "OK"}, status=202)

    async def _invoke_error(self, request: web.Request) -> web.Response:
        channel = self.channel_of(request)
        rid = request.match_info["rid"]
        if channel is None or channel.current is None or channel.current.request_id != rid:
            return _error(400, "InvalidRequestID", "Invalid request ID")
        body = await request.read()
        channel.finish(rid, Outcome(ok=False, payload=body,
                                    error_type=request.headers.get(_ERROR_TYPE, "Runtime.Unknown")))
        return web.json_response({"status": "OK"}, status=202)

    async def _init_error(self, request: web.Request) -> web.Response:
        channel = self.channel_of(request)
        if channel is None:
            return _error(500, "InternalServerError", "unknown environment")
        body = await request.read()
        channel.fail_init(Outcome(ok=False, payload=body,
                                  error_type=request.headers.get(_ERROR_TYPE, "Runtime.Unknown")))
        return web.json_response({"status": "OK"}, status=202)

"""The Runtime API (2018-06-01) server side, for every environment on this machine.

One aiohttp application serves every environment; each environment gets its own
listener on a loopback port, and requests are routed to the environment's
`RuntimeChannel` by the local port they arrived on. The official runtime
interface clients only know `AWS_LAMBDA_RUNTIME_API=host:port`, so a port per
environment is the one way to tell environments apart without a proxy.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import weakref
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from lamina.runtime_api import peers
from lamina.runtime_api.channel import Invocation, Outcome, RuntimeChannel
from lamina.runtime_api.extensions import routes as extension_routes

log = logging.getLogger("lamina.runtime_api")

_ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
_ERROR_BODY = "Lambda-Runtime-Function-Error-Body"
_RESPONSE_MODE = "Lambda-Runtime-Function-Response-Mode"
STREAM_LIMIT = 200 * 1024 * 1024          # streamed responses (since Jul 2025)


class TrailerTap:
    """Follows the HTTP/1.1 framing of one connection to keep the trailers of chunked bodies.

    aiohttp (both its C and its Python parser) reads request trailers and drops them,
    but a streaming runtime reports a failure after the first byte only in trailers
    (`Lambda-Runtime-Function-Error-Type` / `-Body`). The tap sees every byte the
    connection receives, before aiohttp's parser does, so by the time a handler reads
    the body's end the trailers are in `trailers`, keyed by request path (one runtime
    sends one request at a time; the key only guards against mix-ups). It skips bodies
    without copying them; anything it cannot follow turns it off for the connection
    (aiohttp answers such a request with a 400 anyway).
    """

    _HEAD, _BODY, _SIZE, _TRAILER, _OFF = range(5)
    _MAX_LINE = 64 * 1024

    def __init__(self) -> None:
        self.trailers: dict[str, dict[str, str]] = {}
        self._state = self._HEAD
        self._skip = 0
        self._line = bytearray()
        self._path: str | None = None
        self._length = 0
        self._chunked = False
        self._fields: dict[str, str] = {}

    def feed(self, data: bytes) -> None:
        pos, end = 0, len(data)
        while pos < end and self._state != self._OFF:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                if not self._skip and self._state == self._BODY:
                    self._state = self._HEAD
                continue
            nl = data.find(b"\n", pos)
            if nl < 0:
                self._line += data[pos:]
                if len(self._line) > self._MAX_LINE:
                    self._state = self._OFF
                return
            self._line += data[pos:nl]
            pos = nl + 1
            line = bytes(self._line).rstrip(b"\r")
            self._line.clear()
            try:
                self._take(line)
            except (ValueError, IndexError):
                self._state = self._OFF

    def _take(self, line: bytes) -> None:
        if self._state == self._HEAD:
            if self._path is None:
                if line:                                  # the request line
                    self._path = line.split()[1].decode("latin-1")
                    self._length, self._chunked = 0, False
                return
            if line:
                name, _, value = line.partition(b":")
                key, text = name.strip().lower(), value.strip().lower()
                if key == b"content-length":
                    self._length = int(text)
                elif key == b"transfer-encoding":
                    self._chunked = text.endswith(b"chunked")
                return
            if self._chunked:
                self._state, self._fields = self._SIZE, {}
            elif self._length:
                self._state, self._skip = self._BODY, self._length
                self._path = None
            else:
                self._path = None
        elif self._state == self._SIZE:
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size:
                self._skip = size + 2                    # the data and its CRLF
            else:
                self._state = self._TRAILER
        elif self._state == self._TRAILER:
            if line:
                name, _, value = line.partition(b":")
                self._fields[name.strip().decode("latin-1").lower()] = \
                    value.strip().decode("latin-1")
                return
            if self._fields and self._path is not None:
                self.trailers[self._path] = self._fields
                while len(self.trailers) > 8:             # never read: keep the last few
                    del self.trailers[next(iter(self.trailers))]
            self._state, self._path = self._HEAD, None


class _TappedHandler(RequestHandler):
    """aiohttp's connection protocol with a `TrailerTap` in front of its parser."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tap = TrailerTap()

    def data_received(self, data: bytes) -> None:
        self.tap.feed(data)
        super().data_received(data)


class _TappedServer(web.Server):
    """Makes `_TappedHandler`s (aiohttp has no parameter for the protocol class)."""

    def __call__(self) -> RequestHandler:
        return _TappedHandler(self, loop=self._loop, **self._kwargs)


def trailers_of(request: web.Request) -> dict[str, str]:
    """The trailers of `request`'s chunked body (read the body to its end first)."""
    tap = getattr(request.protocol, "tap", None)
    return tap.trailers.pop(request.raw_path, {}) if tap is not None else {}


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
        r.add_get("/2018-06-01/ping", self._ping)
        for method, path, handler in extension_routes(self._extensions_of):
            r.add_route(method, path, handler)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=0.5)
        await self._runner.setup()
        server = self._runner.server
        if type(server) is web.Server:        # exactly aiohttp's own class, not a subclass
            server.__class__ = _TappedServer
        else:
            log.warning("aiohttp changed: streamed responses' error trailers will be missed")

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

    @staticmethod
    async def _ping(request: web.Request) -> web.Response:
        return web.Response(text="pong")

    def channel_of(self, request: web.Request) -> RuntimeChannel | None:
        """The environment a request belongs to, or None (unknown port, or a stranger)."""
        transport = request.transport
        sock = transport.get_extra_info("sockname") if transport else None
        channel = self._channels.get(sock[1]) if sock else None
        if channel is None or transport is None or transport in self._verified:
            return channel
        peer = transport.get_extra_info("peername")
        pids = channel.pids() if channel.pids is not None else []
        if pids and peer and sock:
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
        if inv.specialize:
            headers["Lamina-Specialize"] = "1"
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
        mode = request.headers.get(_RESPONSE_MODE)
        if mode == "streaming":
            return await self._streamed_response(request, channel, rid)
        if mode:
            # As the RIE: the invocation fails, the runtime gets a 400.
            channel.finish(rid, Outcome(ok=False, error_type="Runtime.InvalidResponseModeHeader",
                                        payload=json.dumps({
                                            "errorType": "Runtime.InvalidResponseModeHeader",
                                            "errorMessage": f"Invalid {_RESPONSE_MODE} header: "
                                                            f"{mode}"}).encode()))
            return _error(400, "InvalidFunctionResponseMode", "Invalid function response mode")
        body = await self._read_limited(request, channel.response_limit)
        if body is None:
            return self._too_large(channel, rid, channel.response_limit)
        channel.finish(rid, Outcome(ok=True, payload=body))
        return web.json_response({"status": "OK"}, status=202)

    @staticmethod
    def _too_large(channel: RuntimeChannel, rid: str, limit: int,
                   streamed: bool = False) -> web.Response:
        payload = json.dumps({
            "errorMessage": f"Response payload size exceeded maximum allowed payload size "
                            f"({limit} bytes).",
            "errorType": "Function.ResponseSizeTooLarge"}).encode()
        channel.finish(rid, Outcome(ok=False, payload=payload, streamed=streamed,
                                    error_type="Function.ResponseSizeTooLarge", too_large=True))
        return _error(413, "RequestEntityTooLarge",
                      f"Exceeded maximum allowed payload size ({limit} bytes).")

    async def _streamed_response(self, request: web.Request, channel: RuntimeChannel,
                                 rid: str) -> web.Response:
        """A `streaming` /response: chunks go to the invocation's stream as they arrive.

        With no stream to feed (plain Invoke, a BUFFERED function URL) the body is
        collected under the buffered limit instead, as AWS does. A failure after the
        first byte arrives in the trailers; the outcome is settled at the body's end.
        """
        assert channel.current is not None
        stream = channel.current.stream
        limit = STREAM_LIMIT if stream is not None else channel.response_limit
        if stream is not None:
            stream.start(request.headers.get("Content-Type"))
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.content.iter_any():
                size += len(chunk)
                if size > limit:
                    if stream is not None:          # the client gets exactly `limit` bytes
                        await stream.put(chunk[:len(chunk) - (size - limit)])
                    return self._too_large(channel, rid, limit, streamed=stream is not None)
                if stream is not None:
                    await stream.put(chunk)
                else:
                    chunks.append(chunk)
        except Exception as exc:  # aiohttp's payload errors have no common base
            # The runtime died or broke the chunked framing. After a kill (timeout) the
            # environment has settled the invocation already and `finish` is a no-op.
            log.info("streamed response %s was cut: %r", rid, exc)
            channel.finish(rid, Outcome(ok=False, streamed=stream is not None,
                                        error_type="Runtime.TruncatedResponse",
                                        payload=json.dumps({
                                            "errorType": "Runtime.TruncatedResponse",
                                            "errorMessage": "The runtime's response stream was "
                                                            "cut short"}).encode()))
            return _error(400, "TruncatedHTTPRequest", "Truncated HTTP request")
        trailers = trailers_of(request)
        error_type = trailers.get(_ERROR_TYPE.lower())
        if error_type:
            channel.finish(rid, Outcome(ok=False, error_type=error_type, streamed=stream is not None,
                                        payload=_error_body(error_type,
                                                            trailers.get(_ERROR_BODY.lower()))))
        else:
            channel.finish(rid, Outcome(ok=True, payload=b"".join(chunks),
                                        streamed=stream is not None))
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


def _error_body(error_type: str, encoded: str | None) -> bytes:
    """The JSON of a `Lambda-Runtime-Function-Error-Body` trailer (base64)."""
    if encoded:
        try:
            body = base64.b64decode(encoded, validate=True)
            json.loads(body)
            return body
        except (binascii.Error, ValueError):
            pass
    return json.dumps({"errorType": error_type, "errorMessage": ""}).encode()

"""The HTTP side of function URLs: ``<url-id>.lambda-url.<region>.<domain>`` requests.

`dispatch` in `api/app.py` hands every request whose Host starts with
``<url-id>.lambda-url.`` to `serve()` before the Lambda API routing. A request
goes through: the URL's configuration (unknown id → 403), CORS preflight
(answered here, never invoking the function), authorisation (AuthType
``AWS_IAM``: a valid SigV4 signature for service ``lambda``; ``NONE``: the
resource policy must grant ``lambda:InvokeFunctionUrl`` to ``*`` under
``lambda:FunctionUrlAuthType=NONE``), the payload format 2.0 event, a
synchronous invocation through `services.invoker`, and the mapping of the
function's answer back to HTTP (``statusCode``/``headers``/``cookies``/``body``/
``isBase64Encoded``, or inference for any other JSON value).

With InvokeMode RESPONSE_STREAM a streaming function's body goes out as it arrives
(`_stream`), its `HttpResponseStream` prelude giving status and headers; a function
that does not stream is answered as in BUFFERED mode.

Known deviations: an AWS_IAM URL accepts any caller with valid credentials of
this server (there are no identity policies to consult); AuthType NONE needs
only the ``lambda:InvokeFunctionUrl`` grant, not also the
``lambda:InvokeFunction``/``InvokedViaFunctionUrl`` one AWS has asked of new URLs
since late 2025.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import CIMultiDict

from lamina.api import eventstream, sigv4
from lamina.control.urls import UrlTarget
from lamina.errors import LaminaError
from lamina.invoke.service import InvokeRequest, trace_id
from lamina.runtime_api.channel import STREAM_CONTENT_TYPE, ResponseStream

log = logging.getLogger("lamina.api.urls")

_HOST = re.compile(r"([A-Za-z0-9]+)\.lambda-url\.", re.IGNORECASE)
FORBIDDEN = ("Forbidden. For troubleshooting Function URL authorization issues, see: "
             "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html")
# Response headers the server computes itself; a function cannot set them.
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "date"}
_TEXT_TYPES = ("text/", "json", "xml", "javascript")
PRELUDE_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
PRELUDE_END = b"\0" * 8


def url_id_of(host: str | None) -> str | None:
    """The url-id when `host` is a function URL's host name, else None."""
    m = _HOST.match(host or "")
    return m[1].lower() if m else None


class _Reject(Exception):
    """Answer the request with this status and body instead of invoking."""

    def __init__(self, status: int, body: bytes, error_type: str | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.error_type = status, body, error_type


def _message(status: int, message: str | None, error_type: str | None = None) -> _Reject:
    return _Reject(status, json.dumps({"Message": message}, separators=(",", ":")).encode(), error_type)


def _bad_gateway() -> _Reject:
    return _Reject(502, b"Internal Server Error")


async def serve(request: web.Request, url_id: str, services: Any) -> web.StreamResponse:
    request_id = str(uuid.uuid4())
    try:
        target = services.urls.find(url_id)
        if target is None:
            raise _message(403, None, "AccessDeniedException")
        cors = target.cors or {}
        origin = request.headers.get("Origin")
        if (request.method == "OPTIONS" and cors and origin
                and "Access-Control-Request-Method" in request.headers):
            return _preflight(cors, origin, request_id)
        body = await request.read()
        authorizer = _authorize(request, body, target, services)
        event = build_event(request, body, target, services.settings.account_id,
                            request_id, authorizer)

        def decorate(headers: Any) -> None:   # before the headers go out, streamed or not
            if cors and origin:
                _cors_headers(headers, cors, origin)
        response = await _invoke(services, target, event, request_id,
                                 request.headers.get("X-Amzn-Trace-Id"), request, decorate)
    except _Reject as reject:
        return _rejected(reject, request_id)
    except Exception:
        log.exception("function URL request %s failed", request_id)
        return _rejected(_bad_gateway(), request_id)
    if not response.prepared:
        decorate(response.headers)
    return response


def _rejected(reject: _Reject, request_id: str) -> web.Response:
    headers = {"x-amzn-RequestId": request_id}
    if reject.error_type:
        headers["x-amzn-ErrorType"] = reject.error_type
    return web.Response(status=reject.status, body=reject.body, headers=headers,
                        content_type="application/json")


# -- authorisation --------------------------------------------------------------------------


def _authorize(request: web.Request, body: bytes, target: UrlTarget,
               services: Any) -> dict[str, Any] | None:
    """Check the caller; returns the event's `authorizer` (None for AuthType NONE)."""
    if target.auth_type == "AWS_IAM":
        headers = {k.lower(): v for k, v in request.headers.items()}
        raw_path = request.raw_path.split("?", 1)[0]
        try:
            caller = sigv4.verify(request.method, raw_path, request.query_string, headers, body,
                                  services.settings.credentials)
        except sigv4.MissingAuthenticationTokenException:
            raise _message(403, FORBIDDEN, "AccessDeniedException") from None
        except LaminaError as err:
            raise _message(403, err.message, err.code) from None
        if caller.service != "lambda":
            raise _message(403, "Credential should be scoped to correct service: 'lambda'.",
                           "InvalidSignatureException")
        account = services.settings.account_id
        return {"iam": {"accessKey": caller.access_key, "accountId": account,
                        "callerId": account, "cognitoIdentity": None, "principalOrgId": None,
                        "userArn": f"arn:{services.arns.partition}:iam::{account}:root",
                        "userId": account}}
    allowed = services.policies.allows(target.function_name, target.qualifier,
                                       "lambda:InvokeFunctionUrl",
                                       {"lambda:FunctionUrlAuthType": "NONE"})
    if not allowed:
        raise _message(403, FORBIDDEN, "AccessDeniedException")
    return None


# -- the event ------------------------------------------------------------------------------


def build_event(request: web.Request, body: bytes, target: UrlTarget, account_id: str,
                request_id: str, authorizer: dict[str, Any] | None) -> dict[str, Any]:
    """The payload format 2.0 event of one request (header names lower-cased)."""
    raw_path, _, raw_query = request.raw_path.partition("?")
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers.items():
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
        elif key != "connection":
            headers[key] = f"{headers[key]},{value}" if key in headers else value
    headers.setdefault("x-forwarded-for", request.remote or "")
    headers.setdefault("x-forwarded-proto", request.scheme)
    headers.setdefault("x-forwarded-port", str(request.url.port or 80))
    headers.setdefault("x-amzn-trace-id", trace_id())
    host = request.host.rsplit(":", 1)[0] if request.host else ""
    now = time.time()
    context: dict[str, Any] = {
        "accountId": account_id, "apiId": target.url_id, "domainName": host,
        "domainPrefix": target.url_id,
        "http": {"method": request.method, "path": raw_path, "protocol": _protocol(request),
                 "sourceIp": request.remote or "", "userAgent": request.headers.get("User-Agent", "")},
        "requestId": request_id, "routeKey": "$default", "stage": "$default",
        "time": dt.datetime.fromtimestamp(now, dt.UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now * 1000),
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    event: dict[str, Any] = {"version": "2.0", "routeKey": "$default", "rawPath": raw_path,
                             "rawQueryString": raw_query}
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if raw_query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    event["requestContext"] = context
    is_text = _is_text(headers.get("content-type", ""), body)
    if body:
        event["body"] = body.decode() if is_text else base64.b64encode(body).decode()
    event["isBase64Encoded"] = bool(body) and not is_text
    return event


def _protocol(request: web.Request) -> str:
    return f"HTTP/{request.version.major}.{request.version.minor}"


def _is_text(content_type: str, body: bytes) -> bool:
    """Text bodies travel as they are; anything else base64-encoded (as AWS does)."""
    kind = content_type.lower()
    if not any(t in kind for t in _TEXT_TYPES):
        return False
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


# -- invocation and the response ------------------------------------------------------------


async def _invoke(services: Any, target: UrlTarget, event: dict[str, Any], request_id: str,
                  trace: str | None, request: web.Request,
                  decorate: Callable[[Any], None]) -> web.StreamResponse:
    req = InvokeRequest(function_name=target.function_name, qualifier=target.qualifier,
                        payload=json.dumps(event).encode(), request_id=request_id,
                        trace_id=trace)
    stream = req.stream = ResponseStream() if target.invoke_mode == "RESPONSE_STREAM" else None
    try:
        if stream is None:
            result = await services.invoker.invoke(req)
        else:
            task = await eventstream.start(services.invoker, req)
            if stream.started.is_set():
                return await _stream(request, stream, task, request_id, decorate)
            result = task.result()
    except LaminaError as err:
        if err.status == 404:        # the alias or function went away after the URL was made
            raise _message(403, FORBIDDEN, "AccessDeniedException") from None
        if err.status in (413, 429):
            raise _message(err.status, err.message, err.code) from None
        raise _bad_gateway() from None
    if result.function_error:
        raise _bad_gateway()
    status, headers, body = http_response(result.payload)
    headers["x-amzn-RequestId"] = request_id
    return web.Response(status=status, body=body, headers=headers)


async def _stream(request: web.Request, stream: ResponseStream, task: asyncio.Task[Any],
                  request_id: str, decorate: Callable[[Any], None]) -> web.StreamResponse:
    """Send a streaming function's body to the client as it arrives.

    The status and headers come from the `HttpResponseStream` prelude when the
    runtime sent one (its content type says so), else 200 with the stream's content
    type. A failure before them is a 502; after them it can only end the body.
    """
    chunks = aiter(stream)
    status, headers = 200, CIMultiDict({"Content-Type": stream.content_type})
    try:
        if stream.content_type == PRELUDE_CONTENT_TYPE:
            head = bytearray()
            async for chunk in chunks:
                head += chunk
                if PRELUDE_END in head or len(head) > 1024 * 1024:
                    break
            if PRELUDE_END not in head:       # failed before the prelude was complete
                raise _bad_gateway()
            prelude, _, first = bytes(head).partition(PRELUDE_END)
            status, headers = _prelude(prelude)
        else:
            # Hold the headers until the first byte: a function failing before it is a 502.
            first = await anext(chunks, b"")
            if not first and (await task).function_error:
                raise _bad_gateway()
    except _Reject:
        stream.abandon()                      # never leave the runtime blocked on a full stream
        raise
    headers["x-amzn-RequestId"] = request_id
    response = web.StreamResponse(status=status, headers=headers)
    decorate(response.headers)
    try:
        await response.prepare(request)
        if first:
            await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
    except (ConnectionError, RuntimeError) as exc:   # the client left; the function runs on
        log.info("function URL request %s: client gone (%s)", request_id, exc)
        stream.abandon()
    return response


def _prelude(raw: bytes) -> tuple[int, CIMultiDict[str]]:
    """Status and headers from an `HttpResponseStream` prelude ({statusCode, headers, cookies})."""
    try:
        value = json.loads(raw) if raw.strip() else {}
        status = int(value.get("statusCode", 200))
        if not 100 <= status <= 599:
            raise ValueError(status)
    except (ValueError, TypeError, AttributeError):
        raise _bad_gateway() from None
    headers = _function_headers(value, CIMultiDict())
    headers.setdefault("Content-Type", STREAM_CONTENT_TYPE)
    return status, headers


def _function_headers(value: dict[str, Any], headers: CIMultiDict[str]) -> CIMultiDict[str]:
    """The `headers` and `cookies` a function answered with, minus those the server owns."""
    for name, item in (value.get("headers") or {}).items():
        if str(name).lower() not in _HOP_BY_HOP:
            headers[str(name)] = item if isinstance(item, str) else json.dumps(item)
    for cookie in value.get("cookies") or []:
        headers.add("Set-Cookie", str(cookie))
    return headers


def http_response(payload: bytes) -> tuple[int, CIMultiDict[str], bytes]:
    """Map a function's answer to (status, headers, body); raises `_Reject` (502) if unusable.

    A JSON object with ``statusCode`` is a full response; any other JSON value is
    the body of a 200 ``application/json`` answer (a string as it is, anything
    else re-serialised compactly, as AWS does). A streaming function invoked
    buffered leaves its `HttpResponseStream` prelude in front of the body; JSON
    cannot contain NUL bytes, so the 8 NULs find it.
    """
    prelude, found, rest = payload.partition(PRELUDE_END)
    if found and prelude.lstrip().startswith(b"{"):
        return (*_prelude(prelude), rest)
    try:
        value = json.loads(payload) if payload else None
    except ValueError:
        raise _bad_gateway() from None
    headers: CIMultiDict[str] = CIMultiDict()
    if not (isinstance(value, dict) and "statusCode" in value):
        headers["Content-Type"] = "application/json"
        if isinstance(value, str):
            return 200, headers, value.encode()
        return 200, headers, json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        status = int(value["statusCode"])
    except (TypeError, ValueError):
        raise _bad_gateway() from None
    if not 100 <= status <= 599:
        raise _bad_gateway()
    _function_headers(value, headers)
    headers.setdefault("Content-Type", "application/json")
    raw = value.get("body")
    if raw is None:
        return status, headers, b""
    if not isinstance(raw, str):
        return status, headers, json.dumps(raw, separators=(",", ":")).encode()
    if value.get("isBase64Encoded"):
        try:
            return status, headers, base64.b64decode(raw, validate=True)
        except binascii.Error:
            raise _bad_gateway() from None
    return status, headers, raw.encode()


# -- CORS -----------------------------------------------------------------------------------


def _allowed_origin(cors: dict[str, Any], origin: str) -> str | None:
    origins = [o.lower() for o in cors.get("AllowOrigins") or []]
    if "*" in origins:
        return "*" if not cors.get("AllowCredentials") else origin
    return origin if origin.lower() in origins else None


def _preflight(cors: dict[str, Any], origin: str, request_id: str) -> web.Response:
    headers: CIMultiDict[str] = CIMultiDict({"x-amzn-RequestId": request_id})
    allowed = _allowed_origin(cors, origin)
    if allowed is not None:
        headers["Access-Control-Allow-Origin"] = allowed
        if cors.get("AllowMethods"):
            headers["Access-Control-Allow-Methods"] = ",".join(cors["AllowMethods"])
        if cors.get("AllowHeaders"):
            headers["Access-Control-Allow-Headers"] = ",".join(cors["AllowHeaders"])
        if cors.get("AllowCredentials"):
            headers["Access-Control-Allow-Credentials"] = "true"
        if cors.get("MaxAge") is not None:
            headers["Access-Control-Max-Age"] = str(cors["MaxAge"])
        headers["Vary"] = "Origin"
    return web.Response(status=200, headers=headers)


def _cors_headers(headers: Any, cors: dict[str, Any], origin: str) -> None:
    """Lambda replaces the function's own CORS headers by the configuration's."""
    for name in {h.lower() for h in headers if h.lower().startswith("access-control-")}:
        del headers[name]
    allowed = _allowed_origin(cors, origin)
    if allowed is None:
        return
    headers["Access-Control-Allow-Origin"] = allowed
    if cors.get("ExposeHeaders"):
        headers["Access-Control-Expose-Headers"] = ",".join(cors["ExposeHeaders"])
    if cors.get("AllowCredentials"):
        headers["Access-Control-Allow-Credentials"] = "true"
    headers["Vary"] = "Origin"

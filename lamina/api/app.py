"""The HTTP front door: routing by the service model, SigV4, AWS-shaped errors.

Handlers live in one module per resource family (`api/functions.py` …) and are
registered with `@operation("Name")`. A handler receives the decoded, validated
parameters and returns the output members as a dict; it only decodes, calls
`control/` or `invoke/`, and encodes.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from lamina.api import cloudwatch, function_urls, sigv4, sts
from lamina.api import logs as logs_api
from lamina.api.protocol import decode, encode
from lamina.api.validation import Validator
from lamina.errors import LaminaError, RequestEntityTooLargeException, ServiceException
from lamina.model import Operation, ServiceModel, load
from lamina.settings import Settings

if TYPE_CHECKING:   # the composition root imports this module; only the type checker goes back
    from lamina.server import Services

log = logging.getLogger("lamina.api")


@dataclass
class Call:
    """One API call as a handler sees it."""

    request_id: str
    services: Services
    caller: sigv4.Caller | None
    request: web.Request


Handler = Callable[[Call, dict[str, Any]], Awaitable[dict[str, Any] | web.StreamResponse]]
_HANDLERS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[name] = fn
        return fn
    return register


class UnknownOperationException(LaminaError):
    code = "UnknownOperationException"
    status = 404


class Router:
    def __init__(self, model: ServiceModel) -> None:
        self._by_method: dict[str, list[Operation]] = {}
        for op in model.operations.values():
            self._by_method.setdefault(op.method, []).append(op)
        for ops in self._by_method.values():   # fixed-query routes win over plain ones
            ops.sort(key=lambda o: (-len(o.fixed_query), -len(o.path)))

    def match(self, method: str, raw_path: str,
              query: dict[str, str]) -> tuple[Operation, dict[str, str]]:
        for op in self._by_method.get(method, ()):
            m = op.pattern.fullmatch(raw_path)
            if m and all(query.get(k) == v for k, v in op.fixed_query.items()):
                return op, m.groupdict()
        raise UnknownOperationException("Unknown operation")


# AWS's limit on a whole request (a 50 MB zip, base64-encoded in JSON, plus the rest).
MAX_REQUEST_BYTES = 70_167_211


async def _read_body(request: web.Request, router: Router, raw_path: str) -> bytes:
    """The request body, or AWS's 413 naming the operation when it is too large."""
    too_large = request.content_length is not None and request.content_length > MAX_REQUEST_BYTES
    if not too_large:
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:   # a chunked body past client_max_size
            pass
    try:
        name = router.match(request.method, raw_path, dict(request.query))[0].name
    except UnknownOperationException:
        name = "requested"
    raise RequestEntityTooLargeException(
        f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the {name} operation")


def error_response(err: LaminaError, request_id: str) -> web.Response:
    headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": err.code, **err.headers}
    return web.Response(status=err.status, body=json.dumps(err.body()).encode(),
                        content_type="application/json", headers=headers)


def build_app(settings: Settings, services: Any,
              extra_routes: Callable[[web.Application], None] | None = None) -> web.Application:
    model = load()
    router = Router(model)
    validator = Validator(model)
    import lamina.api.handlers  # noqa: F401 - registers every @operation

    async def dispatch(request: web.Request) -> web.StreamResponse:
        url_id = function_urls.url_id_of(request.host)
        if url_id is not None:   # <url-id>.lambda-url.… is a function URL, not the API
            return await function_urls.serve(request, url_id, services)
        request_id = str(uuid.uuid4())
        try:
            raw_path = request.raw_path.split("?", 1)[0]
            target = request.headers.get("X-Amz-Target", "")
            body = await _read_body(request, router, raw_path)
            headers = {k.lower(): v for k, v in request.headers.items()}
            if cloudwatch.handles(raw_path, target):   # verifies and encodes errors itself
                return cloudwatch.respond(services.metrics, settings.credentials, request,
                                          raw_path, target, headers, body, request_id)
            caller = sigv4.verify(request.method, raw_path, request.query_string, headers, body,
                                  settings.credentials)
            if target.startswith(logs_api.TARGET_PREFIX):
                return await logs_api.respond(services.logs, target, body)
            if sts.is_sts(request.method, raw_path, caller.service, body):
                return sts.respond(body, settings.account_id, caller.access_key,
                                   services.arns.partition, request_id)
            op, labels = router.match(request.method, raw_path, dict(request.query))
            params = decode(model, op, labels, request.query, request.headers, body)
            if op.input_shape:
                validator.check(op.input_shape, params)
            handler = _HANDLERS.get(op.name)
            if handler is None:
                raise UnknownOperationException(f"Operation {op.name} is not supported by Lamina")
            result = await handler(Call(request_id, services, caller, request), params)
            if isinstance(result, web.StreamResponse):
                return result
            encoded = encode(model, op, result)
            encoded.headers.setdefault("x-amzn-RequestId", request_id)
            response = web.Response(status=encoded.status, body=encoded.body,
                                    headers=encoded.headers)
            if encoded.content_type and encoded.body:
                response.content_type = encoded.content_type
            return response
        except LaminaError as err:
            return error_response(err, request_id)
        except Exception:
            log.exception("internal error in request %s", request_id)
            return error_response(ServiceException("An internal error occurred."), request_id)

    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    if extra_routes is not None:
        extra_routes(app)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app

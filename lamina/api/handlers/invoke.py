"""Invoke, InvokeWithResponseStream and the deprecated InvokeAsync."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from lamina.api import eventstream
from lamina.api.app import Call, operation
from lamina.invoke.service import InvokeRequest
from lamina.runtime_api.channel import ResponseStream

log = logging.getLogger("lamina.api.invoke")


@operation("Invoke")
async def invoke(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    req = InvokeRequest(
        function_name=p["FunctionName"], qualifier=p.get("Qualifier"),
        payload=p.get("Payload") or b"", invocation_type=p.get("InvocationType") or "RequestResponse",
        log_type=p.get("LogType") or "None", client_context=p.get("ClientContext"),
        request_id=call.request_id,
        trace_id=call.request.headers.get("X-Amzn-Trace-Id"))
    resp = await call.services.invoker.invoke(req)
    return {"StatusCode": resp.status, "Payload": resp.payload,
            "ExecutedVersion": resp.executed_version, "FunctionError": resp.function_error,
            "LogResult": resp.log_result}


@operation("InvokeAsync")
async def invoke_async(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    req = InvokeRequest(function_name=p["FunctionName"], payload=p.get("InvokeArgs") or b"",
                        invocation_type="Event", request_id=call.request_id)
    await call.services.invoker.invoke(req)
    return {"Status": 202}


@operation("InvokeWithResponseStream")
async def invoke_with_response_stream(call: Call, p: dict[str, Any]) -> web.StreamResponse:
    """Chunks reach the client as the runtime sends them, as `PayloadChunk` events, then
    one `InvokeComplete`. A function that does not stream (any runtime answering with a
    plain /response) gives one `PayloadChunk` with its whole answer, as on AWS."""
    stream = ResponseStream()
    req = InvokeRequest(
        function_name=p["FunctionName"], qualifier=p.get("Qualifier"),
        payload=p.get("Payload") or b"", invocation_type=p.get("InvocationType") or "RequestResponse",
        log_type=p.get("LogType") or "None", client_context=p.get("ClientContext"),
        request_id=call.request_id, trace_id=call.request.headers.get("X-Amzn-Trace-Id"),
        stream=stream)
    task = await eventstream.start(call.services.invoker, req)
    if task.done() and task.result().status == 204:          # DryRun
        return web.Response(status=204, headers={"x-amzn-RequestId": call.request_id})
    streaming = stream.started.is_set()
    version = stream.executed_version or (task.result().executed_version if task.done() else None)
    response = web.StreamResponse(status=200, headers={
        "Content-Type": eventstream.CONTENT_TYPE,
        "X-Amzn-Remapped-Content-Type": stream.content_type if streaming else "application/json",
        "x-amzn-RequestId": call.request_id})
    if version:
        response.headers["X-Amz-Executed-Version"] = version
    try:
        await response.prepare(call.request)
        async for chunk in stream:
            for message in eventstream.payload_chunks(chunk):
                await response.write(message)
        try:
            resp = await task
        except Exception:  # the status line is gone: report it in-band
            log.exception("InvokeWithResponseStream %s failed", call.request_id)
            await response.write(eventstream.invoke_complete("ServiceException",
                                                             "An internal error occurred."))
            await response.write_eof()
            return response
        if not streaming and resp.function_error is None and resp.payload:
            for message in eventstream.payload_chunks(resp.payload):
                await response.write(message)
        code, details = eventstream.error_fields(resp)
        await response.write(eventstream.invoke_complete(code, details, resp.log_result))
        await response.write_eof()
    except (ConnectionError, RuntimeError) as exc:
        # The client went away: the function runs to its end, its output is dropped.
        log.info("InvokeWithResponseStream %s: client gone (%s)", call.request_id, exc)
        stream.abandon()
        await asyncio.shield(task)
    return response

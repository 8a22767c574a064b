"""Invoke and the deprecated InvokeAsync."""

from __future__ import annotations

from typing import Any

from lamina.api.app import Call, operation
from lamina.invoke.service import InvokeRequest


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

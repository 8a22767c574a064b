"""Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s)."""

from __future__ import annotations

from typing import Any

from lamina.api.app import Call, operation
from lamina.control.paging import page


@operation("PutFunctionEventInvokeConfig")
async def put_event_invoke_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = call.services.event_invoke.put(p)
    return config


@operation("UpdateFunctionEventInvokeConfig")
async def update_event_invoke_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = call.services.event_invoke.update(p)
    return config


@operation("GetFunctionEventInvokeConfig")
async def get_event_invoke_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = call.services.event_invoke.get(p["FunctionName"], p.get("Qualifier"))
    return config


@operation("DeleteFunctionEventInvokeConfig")
async def delete_event_invoke_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    call.services.event_invoke.delete(p["FunctionName"], p.get("Qualifier"))
    return {}


@operation("ListFunctionEventInvokeConfigs")
async def list_event_invoke_configs(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    items = call.services.event_invoke.list(p["FunctionName"])
    chunk, marker = page(items, p.get("Marker"), p.get("MaxItems"))
    return {"FunctionEventInvokeConfigs": chunk, "NextMarker": marker}

"""Create/Get/Update/Delete/ListFunctionUrlConfig(s). Serving the URLs is `api/function_urls.py`."""

from __future__ import annotations

from typing import Any

from lamina.api.app import Call, operation
from lamina.control.paging import page


@operation("CreateFunctionUrlConfig")
async def create_url_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.urls.create(p)


@operation("GetFunctionUrlConfig")
async def get_url_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.urls.get(p["FunctionName"], p.get("Qualifier"))


@operation("UpdateFunctionUrlConfig")
async def update_url_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.urls.update(p)


@operation("DeleteFunctionUrlConfig")
async def delete_url_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    call.services.urls.delete(p["FunctionName"], p.get("Qualifier"))
    return {}


@operation("ListFunctionUrlConfigs")
async def list_url_configs(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    items = call.services.urls.list(p["FunctionName"])
    chunk, marker = page(items, p.get("Marker"), p.get("MaxItems"))
    return {"FunctionUrlConfigs": chunk, "NextMarker": marker}

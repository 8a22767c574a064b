"""CreateFunction, GetFunction(Configuration), Update*, DeleteFunction, ListFunctions."""

from __future__ import annotations

from typing import Any

from lamina.api.app import Call, operation
from lamina.control.paging import page


@operation("CreateFunction")
async def create_function(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.functions.create(p)


@operation("GetFunction")
async def get_function(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    s = call.services
    function, config, target = s.functions.get(p["FunctionName"], p.get("Qualifier"))
    shown = s.functions.get_configuration(p["FunctionName"], p.get("Qualifier"))
    out: dict[str, Any] = {
        "Configuration": shown,
        "Code": {"RepositoryType": "S3", "Location": s.code_location(config)},
    }
    if function.get("tags"):
        out["Tags"] = function["tags"]
    reserved = function.get("reserved_concurrency")
    if reserved is not None:
        out["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
    return out


@operation("GetFunctionConfiguration")
async def get_function_configuration(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.functions.get_configuration(p["FunctionName"], p.get("Qualifier"))


@operation("UpdateFunctionCode")
async def update_function_code(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    result = call.services.functions.update_code(p)
    call.services.configuration_changed(p["FunctionName"])
    return result


@operation("UpdateFunctionConfiguration")
async def update_function_configuration(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    result = call.services.functions.update_configuration(p)
    call.services.configuration_changed(p["FunctionName"])
    return result


@operation("DeleteFunction")
async def delete_function(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    call.services.functions.delete(p["FunctionName"], p.get("Qualifier"))
    call.services.configuration_changed(p["FunctionName"])
    return {"StatusCode": 204}


@operation("ListFunctions")
async def list_functions(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    items = call.services.functions.list_all(p.get("FunctionVersion") == "ALL")
    chunk, marker = page(items, p.get("Marker"), p.get("MaxItems"))
    return {"Functions": chunk, "NextMarker": marker}

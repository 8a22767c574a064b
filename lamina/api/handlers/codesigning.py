"""Code signing configs (Create/Get/Update/Delete/List) and their function attachments."""

from __future__ import annotations

from typing import Any

from lamina.api.app import Call, operation
from lamina.control.paging import page


@operation("CreateCodeSigningConfig")
async def create_code_signing_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return {"CodeSigningConfig": call.services.code_signing.create(p)}


@operation("GetCodeSigningConfig")
async def get_code_signing_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return {"CodeSigningConfig": call.services.code_signing.get(p["CodeSigningConfigArn"])}


@operation("UpdateCodeSigningConfig")
async def update_code_signing_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return {"CodeSigningConfig": call.services.code_signing.update(p)}


@operation("DeleteCodeSigningConfig")
async def delete_code_signing_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    call.services.code_signing.delete(p["CodeSigningConfigArn"])
    return {}


@operation("ListCodeSigningConfigs")
async def list_code_signing_configs(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    chunk, marker = page(call.services.code_signing.list_configs(), p.get("Marker"), p.get("MaxItems"))
    return {"CodeSigningConfigs": chunk, "NextMarker": marker}


@operation("ListFunctionsByCodeSigningConfig")
async def list_functions_by_code_signing_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    arns = call.services.code_signing.functions_using(p["CodeSigningConfigArn"])
    chunk, marker = page(arns, p.get("Marker"), p.get("MaxItems"))
    return {"FunctionArns": chunk, "NextMarker": marker}


@operation("PutFunctionCodeSigningConfig")
async def put_function_code_signing_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = call.services.code_signing.put_function(
        p["FunctionName"], p["CodeSigningConfigArn"])
    return result


@operation("GetFunctionCodeSigningConfig")
async def get_function_code_signing_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = call.services.code_signing.get_function(p["FunctionName"])
    return result


@operation("DeleteFunctionCodeSigningConfig")
async def delete_function_code_signing_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    call.services.code_signing.delete_function(p["FunctionName"])
    return {}

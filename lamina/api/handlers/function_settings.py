"""Put/GetFunctionRecursionConfig and Put/GetRuntimeManagementConfig."""

from __future__ import annotations

from typing import Any

from lamina.api.app import Call, operation


@operation("PutFunctionRecursionConfig")
async def put_function_recursion_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = call.services.function_settings.put_recursion(
        p["FunctionName"], p["RecursiveLoop"])
    return result


@operation("GetFunctionRecursionConfig")
async def get_function_recursion_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = call.services.function_settings.get_recursion(p["FunctionName"])
    return result


@operation("PutRuntimeManagementConfig")
async def put_runtime_management_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = call.services.function_settings.put_runtime_management(p)
    return result


@operation("GetRuntimeManagementConfig")
async def get_runtime_management_config(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = call.services.function_settings.get_runtime_management(
        p["FunctionName"], p.get("Qualifier"))
    return result

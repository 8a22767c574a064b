"""Put/Get/DeleteFunctionConcurrency and Put/Get/Delete/ListProvisionedConcurrencyConfig(s)."""

from __future__ import annotations

from typing import Any

from lamina.api.app import Call, operation
from lamina.control.paging import page


@operation("PutFunctionConcurrency")
async def put_function_concurrency(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.concurrency.put_reserved(p["FunctionName"],
                                                  p["ReservedConcurrentExecutions"])


@operation("GetFunctionConcurrency")
async def get_function_concurrency(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.concurrency.get_reserved(p["FunctionName"])


@operation("DeleteFunctionConcurrency")
async def delete_function_concurrency(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    call.services.concurrency.delete_reserved(p["FunctionName"])
    return {}


@operation("PutProvisionedConcurrencyConfig")
async def put_provisioned(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.concurrency.put_provisioned(p["FunctionName"], p["Qualifier"],
                                                     p["ProvisionedConcurrentExecutions"])


@operation("GetProvisionedConcurrencyConfig")
async def get_provisioned(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.concurrency.get_provisioned(p["FunctionName"], p["Qualifier"])


@operation("DeleteProvisionedConcurrencyConfig")
async def delete_provisioned(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    call.services.concurrency.delete_provisioned(p["FunctionName"], p["Qualifier"])
    return {}


@operation("ListProvisionedConcurrencyConfigs")
async def list_provisioned(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    items = call.services.concurrency.list_provisioned(p["FunctionName"])
    chunk, marker = page(items, p.get("Marker"), p.get("MaxItems"))
    return {"ProvisionedConcurrencyConfigs": chunk, "NextMarker": marker}

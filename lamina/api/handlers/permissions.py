"""AddPermission, GetPolicy, RemovePermission (a function's resource-based policy)."""

from __future__ import annotations

from typing import Any

from lamina.api.app import Call, operation


@operation("AddPermission")
async def add_permission(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return {"Statement": call.services.policies.add(p)}


@operation("GetPolicy")
async def get_policy(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    policy, revision = call.services.policies.get(p["FunctionName"], p.get("Qualifier"))
    return {"Policy": policy, "RevisionId": revision}


@operation("RemovePermission")
async def remove_permission(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    call.services.policies.remove(p["FunctionName"], p["StatementId"], p.get("Qualifier"),
                                  p.get("RevisionId"))
    return {}

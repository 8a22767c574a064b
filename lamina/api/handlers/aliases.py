"""CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases."""

from __future__ import annotations

from typing import Any

from lamina.api.app import Call, operation
from lamina.control.paging import page


@operation("CreateAlias")
async def create_alias(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.aliases.create(p)


@operation("GetAlias")
async def get_alias(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.aliases.get(p["FunctionName"], p["Name"])


@operation("UpdateAlias")
async def update_alias(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.aliases.update(p)


@operation("DeleteAlias")
async def delete_alias(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    call.services.aliases.delete(p["FunctionName"], p["Name"])
    return {}


@operation("ListAliases")
async def list_aliases(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    items = call.services.aliases.list(p["FunctionName"], p.get("FunctionVersion"))
    chunk, marker = page(items, p.get("Marker"), p.get("MaxItems"))
    return {"Aliases": chunk, "NextMarker": marker}

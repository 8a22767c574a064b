"""Create/Get/Update/Delete/ListEventSourceMapping(s)."""

from __future__ import annotations

from typing import Any

from lamina.api.app import Call, operation
from lamina.control.paging import page


@operation("CreateEventSourceMapping")
async def create_event_source_mapping(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    mapping: dict[str, Any] = call.services.esm.create(p)
    return mapping


@operation("GetEventSourceMapping")
async def get_event_source_mapping(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    mapping: dict[str, Any] = call.services.esm.get(p["UUID"])
    return mapping


@operation("UpdateEventSourceMapping")
async def update_event_source_mapping(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    mapping: dict[str, Any] = call.services.esm.update(p)
    return mapping


@operation("DeleteEventSourceMapping")
async def delete_event_source_mapping(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    mapping: dict[str, Any] = call.services.esm.delete(p["UUID"])
    return mapping


@operation("ListEventSourceMappings")
async def list_event_source_mappings(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    items = call.services.esm.list(p.get("FunctionName"), p.get("EventSourceArn"))
    chunk, marker = page(items, p.get("Marker"), p.get("MaxItems"), default=100)
    return {"EventSourceMappings": chunk, "NextMarker": marker}

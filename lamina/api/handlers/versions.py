"""PublishVersion, ListVersionsByFunction."""

from __future__ import annotations

from typing import Any

from lamina.api.app import Call, operation
from lamina.control.paging import page


@operation("PublishVersion")
async def publish_version(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.functions.publish_version(p)


@operation("ListVersionsByFunction")
async def list_versions(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    items = call.services.functions.list_versions(p["FunctionName"])
    chunk, marker = page(items, p.get("Marker"), p.get("MaxItems"))
    return {"Versions": chunk, "NextMarker": marker}

"""TagResource, UntagResource, ListTags."""

from __future__ import annotations

from typing import Any

from lamina.api.app import Call, operation


@operation("ListTags")
async def list_tags(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return {"Tags": call.services.functions.list_tags(p["Resource"])}


@operation("TagResource")
async def tag_resource(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    call.services.functions.tag(p["Resource"], p.get("Tags") or {})
    return {}


@operation("UntagResource")
async def untag_resource(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    call.services.functions.untag(p["Resource"], p["TagKeys"])
    return {}

"""TagResource, UntagResource, ListTags."""

from __future__ import annotations

from typing import Any

from lamina.api.app import Call, operation


def _owner(call: Call, resource: str) -> Any:
    """Event source mappings and code signing configs keep their own tags; else a function's."""
    if ":code-signing-config:" in resource:
        return call.services.code_signing
    return call.services.esm if ":event-source-mapping:" in resource else call.services.functions


@operation("ListTags")
async def list_tags(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return {"Tags": _owner(call, p["Resource"]).tags.list(p["Resource"])}


@operation("TagResource")
async def tag_resource(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    _owner(call, p["Resource"]).tags.tag(p["Resource"], p.get("Tags") or {})
    return {}


@operation("UntagResource")
async def untag_resource(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    _owner(call, p["Resource"]).tags.untag(p["Resource"], p["TagKeys"])
    return {}

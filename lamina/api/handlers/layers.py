"""PublishLayerVersion, Get/Delete/ListLayerVersion(s), ListLayers, layer version policies."""

from __future__ import annotations

import asyncio
from typing import Any

from lamina.api.app import Call, operation
from lamina.control.paging import page
from lamina.model.messages import validation_error


def _version(p: dict[str, Any]) -> int:
    # A path label: the model says long, the URI gives text.
    raw = p["VersionNumber"]
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise validation_error("versionNumber", raw, "Member must be a number") from None


def _location(call: Call) -> Any:
    return lambda digest: call.services.code_location({"_code": digest})


@operation("PublishLayerVersion")
async def publish_layer_version(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    layers = call.services.layers
    # Download, hashing and unpacking are slow: keep them off the event loop.
    package = await asyncio.to_thread(layers.store_content, p["Content"])
    return layers.publish(p, package, _location(call)(package.digest))


@operation("GetLayerVersion")
async def get_layer_version(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.layers.get(p["LayerName"], _version(p), _location(call))


@operation("GetLayerVersionByArn")
async def get_layer_version_by_arn(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.layers.get_by_arn(p["Arn"], _location(call))


@operation("DeleteLayerVersion")
async def delete_layer_version(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    call.services.layers.delete(p["LayerName"], _version(p))
    return {}


@operation("ListLayerVersions")
async def list_layer_versions(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    items = call.services.layers.list_versions(p["LayerName"], p.get("CompatibleRuntime"),
                                               p.get("CompatibleArchitecture"))
    chunk, marker = page(items, p.get("Marker"), p.get("MaxItems"))
    return {"LayerVersions": chunk, "NextMarker": marker}


@operation("ListLayers")
async def list_layers(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    items = call.services.layers.list_layers(p.get("CompatibleRuntime"),
                                             p.get("CompatibleArchitecture"))
    chunk, marker = page(items, p.get("Marker"), p.get("MaxItems"))
    return {"Layers": chunk, "NextMarker": marker}


@operation("AddLayerVersionPermission")
async def add_layer_version_permission(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.layers.add_permission({**p, "VersionNumber": _version(p)})


@operation("GetLayerVersionPolicy")
async def get_layer_version_policy(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.layers.get_policy(p["LayerName"], _version(p))


@operation("RemoveLayerVersionPermission")
async def remove_layer_version_permission(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    call.services.layers.remove_permission({**p, "VersionNumber": _version(p)})
    return {}

"""TagResource, UntagResource, ListTags."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lamina.api.app import Call, operation
from lamina.errors import ResourceNotFoundException


class _NoCapacityProviders:
    """Lamina has no capacity providers, so every capacity-provider ARN is not found
    (recorded: test_tag_exceptions[capacity_provider])."""

    def __init__(self) -> None:
        self.tags = self

    @staticmethod
    def _missing(resource: str) -> ResourceNotFoundException:
        return ResourceNotFoundException(f"Capacity provider not found: {resource}")

    def list(self, resource: str) -> dict[str, str]:
        raise self._missing(resource)

    def tag(self, resource: str, tags: dict[str, str]) -> None:
        raise self._missing(resource)

    def untag(self, resource: str, keys: Iterable[str]) -> None:
        raise self._missing(resource)


_CAPACITY_PROVIDERS = _NoCapacityProviders()


def _owner(call: Call, resource: str) -> Any:
    """Event source mappings and code signing configs keep their own tags; else a function's."""
    if ":code-signing-config:" in resource:
        return call.services.code_signing
    if ":capacity-provider:" in resource:
        return _CAPACITY_PROVIDERS
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

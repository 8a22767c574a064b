"""From what a request names to what is stored: functions, versions, aliases.

AWS's not-found and mismatch messages depend on how the caller named the
function, so every operation resolves references here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from lamina.arns import LATEST, Arns, FunctionRef, is_version
from lamina.errors import InvalidParameterValueException, ResourceNotFoundException
from lamina.store.base import Doc, MetadataStore

FUNCTION = "function"
VERSION = "version"
ALIAS = "alias"


def new_revision() -> str:
    return str(uuid.uuid4())


def timestamp() -> str:
    """Lambda's LastModified format: 2025-11-25T02:26:54.123+0000."""
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def version_key(name: str, version: str) -> str:
    # Zero-padded so that key order is version order; $LATEST sorts first.
    return f"{name}/{version if version == LATEST else version.zfill(10)}"


def alias_key(name: str, alias: str) -> str:
    return f"{name}/{alias}"


@dataclass(frozen=True)
class Target:
    """A resolved reference: the function, and the version that a qualifier names."""

    name: str
    qualifier: str | None   # as given (alias, version or $LATEST), None if unqualified
    version: str            # the version it designates ($LATEST for unqualified)
    alias: Doc | None

    @property
    def invoked_qualifier(self) -> str:
        return self.qualifier or LATEST


class Resolver:
    def __init__(self, store: MetadataStore, arns: Arns) -> None:
        self.store = store
        self.arns = arns

    def ref(self, function_name: str, qualifier: str | None = None) -> tuple[FunctionRef, str | None]:
        """Split a FunctionName and reconcile it with a separate Qualifier."""
        ref = FunctionRef.parse(function_name)
        if ref.qualifier is not None and qualifier is not None and ref.qualifier != qualifier:
            raise InvalidParameterValueException(
                "The derived qualifier from the function name does not match the specified qualifier.")
        if ref.region and ref.region != self.arns.region:
            raise ResourceNotFoundException(
                f"Functions from '{ref.region}' are not reachable in this region ('{self.arns.region}')")
        return ref, ref.qualifier if ref.qualifier is not None else qualifier

    def not_found(self, name: str, qualifier: str | None = None) -> ResourceNotFoundException:
        return ResourceNotFoundException(f"Function not found: {self.arns.function(name, qualifier)}")

    def function(self, name: str, qualifier: str | None = None) -> Doc:
        doc = self.store.get(FUNCTION, name)
        if doc is None:
            raise self.not_found(name, qualifier)
        return doc

    def version(self, name: str, version: str) -> Doc | None:
        return self.store.get(VERSION, version_key(name, version))

    def alias(self, name: str, alias: str) -> Doc | None:
        return self.store.get(ALIAS, alias_key(name, alias))

    def target(self, function_name: str, qualifier: str | None = None,
               missing_qualifier: str | None = None) -> Target:
        """Resolve to an existing version; `missing_qualifier` names it in not-found errors."""
        ref, qualifier = self.ref(function_name, qualifier)
        shown = qualifier if qualifier is not None else missing_qualifier
        self.function(ref.name, shown)
        if qualifier is None or qualifier == LATEST:
            version = self.version(ref.name, LATEST)
            if version is None:
                raise self.not_found(ref.name, shown)
            return Target(ref.name, qualifier, LATEST, None)
        if is_version(qualifier):
            if self.version(ref.name, qualifier) is None:
                raise self.not_found(ref.name, shown)
            return Target(ref.name, qualifier, qualifier, None)
        alias = self.alias(ref.name, qualifier)
        if alias is None:
            raise self.not_found(ref.name, shown)
        return Target(ref.name, qualifier, alias["FunctionVersion"], alias)

    def config(self, target: Target) -> Doc:
        doc = self.version(target.name, target.version)
        if doc is None:
            raise self.not_found(target.name, target.qualifier)
        return doc


def public(doc: Doc) -> dict[str, Any]:
    """A stored version document without Lamina's internal (underscore) fields."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}

"""Aliases: named pointers to a version, optionally weighted across two versions."""

from __future__ import annotations

import random
import re
from typing import Any

from lamina.arns import LATEST
from lamina.control.functions import Functions, stale
from lamina.control.resolve import ALIAS, alias_key, new_revision, public
from lamina.errors import InvalidParameterValueException, ResourceConflictException, ResourceNotFoundException
from lamina.model.messages import validation_error
from lamina.store.base import Doc

# The model's constraints on the keys of AdditionalVersionWeights, which AWS checks
# before anything else (recorded: test_notfound_and_invalid_routingconfigs,
# routing_config_exc_version_latest).
_WEIGHT_KEY = re.compile(r"[0-9]+")
_WEIGHT_KEY_CONSTRAINT = ("Map keys must satisfy constraint: [Member must have length less than or "
                          "equal to 1024, Member must have length greater than or equal to 1, "
                          "Member must satisfy regular expression pattern: [0-9]+]")


def _validate_weight_keys(routing: dict[str, Any] | None) -> None:
    weights = (routing or {}).get("AdditionalVersionWeights") or {}
    if any(not _WEIGHT_KEY.fullmatch(str(k)) or len(str(k)) > 1024 for k in weights):
        shown = {k: float(v) if isinstance(v, (int, float)) else v for k, v in weights.items()}
        raise validation_error("routingConfig.additionalVersionWeights", shown,
                               _WEIGHT_KEY_CONSTRAINT)


class Aliases:
    def __init__(self, functions: Functions) -> None:
        self.functions = functions
        self.store = functions.store
        self.resolve = functions.resolve
        self.arns = functions.arns
        self.move_listeners: list[Any] = []     # called (name, alias, old_doc, new_doc)
        self.delete_listeners: list[Any] = []   # called (name, alias) after a delete

    def _name(self, function_name: str) -> str:
        name = self.resolve.ref(function_name)[0].name
        self.resolve.function(name)
        return name

    def _check_version(self, name: str, version: str) -> None:
        if self.resolve.version(name, version) is None:
            raise self.resolve.not_found(name, version)

    def _check_routing(self, name: str, version: str, routing: dict[str, Any] | None) -> dict[str, float]:
        weights = dict((routing or {}).get("AdditionalVersionWeights") or {})
        if len(weights) > 1:
            raise InvalidParameterValueException(
                "Number of items in AdditionalVersionWeights cannot be greater than 1")
        if weights and version == LATEST:
            raise InvalidParameterValueException(
                "$LATEST is not supported for an alias pointing to more than 1 version")
        for extra in weights:
            if extra == version:
                raise InvalidParameterValueException(
                    f"Invalid function version {extra}. Function version {extra} is already "
                    "included in routing configuration.")
            if extra == LATEST:
                raise InvalidParameterValueException(
                    "$LATEST is not supported for an alias pointing to more than 1 version")
            self._check_version(name, extra)
        return {k: float(v) for k, v in weights.items()}

    def _shown(self, doc: Doc) -> Doc:
        out = public(doc)
        if not (doc.get("RoutingConfig") or {}).get("AdditionalVersionWeights"):
            out.pop("RoutingConfig", None)
        return out

    def create(self, p: dict[str, Any]) -> Doc:
        _validate_weight_keys(p.get("RoutingConfig"))
        alias, version = p["Name"], p["FunctionVersion"]
        # A missing function is named with the target version (recorded:
        # test_notfound_and_invalid_routingconfigs, routing_config_exc_fn_doesnotexist).
        name = self.resolve.ref(p["FunctionName"])[0].name
        self.resolve.function(name, version)
        weights = self._check_routing(name, version, p.get("RoutingConfig"))
        self._check_version(name, version)
        arn = self.arns.function(name, alias)
        doc: Doc = {"AliasArn": arn, "Name": alias, "FunctionVersion": version,
                    "Description": p.get("Description", ""), "RevisionId": new_revision()}
        if weights:
            doc["RoutingConfig"] = {"AdditionalVersionWeights": weights}
        with self.store.transaction():
            if self.resolve.alias(name, alias) is not None:
                raise ResourceConflictException(f"Alias already exists: {arn}")
            self.store.put(ALIAS, alias_key(name, alias), doc)
        return self._shown(doc)

    def get(self, function_name: str, alias: str) -> Doc:
        name = self._name(function_name)
        doc = self.resolve.alias(name, alias)
        if doc is None:
            raise ResourceNotFoundException(f"Cannot find alias arn: {self.arns.function(name, alias)}")
        return self._shown(doc)

    def update(self, p: dict[str, Any]) -> Doc:
        _validate_weight_keys(p.get("RoutingConfig"))
        name = self._name(p["FunctionName"])
        alias = p["Name"]
        with self.store.transaction():
            doc = self.resolve.alias(name, alias)
            if doc is None:
                raise ResourceNotFoundException(f"Alias not found: {self.arns.function(name, alias)}")
            stale(p.get("RevisionId"), doc["RevisionId"])
            old = dict(doc)
            version = str(p.get("FunctionVersion") or doc["FunctionVersion"])
            if "FunctionVersion" in p:
                self._check_version(name, version)
            routing = p.get("RoutingConfig", doc.get("RoutingConfig")
                            if version == doc["FunctionVersion"] else None)
            weights = self._check_routing(name, version, routing)
            doc["FunctionVersion"] = version
            if "Description" in p:
                doc["Description"] = p["Description"]
            if weights:
                doc["RoutingConfig"] = {"AdditionalVersionWeights": weights}
            else:
                doc.pop("RoutingConfig", None)
            doc["RevisionId"] = new_revision()
            for listener in self.move_listeners:
                listener(name, alias, old, doc)
            self.store.put(ALIAS, alias_key(name, alias), doc)
        return self._shown(doc)

    def delete(self, function_name: str, alias: str) -> None:
        name = self._name(function_name)
        if self.store.delete(ALIAS, alias_key(name, alias)):
            for listener in self.delete_listeners:
                listener(name, alias)

    def list(self, function_name: str, version: str | None) -> list[Doc]:
        name = self._name(function_name)
        docs = [d for _, d in self.store.scan(ALIAS, f"{name}/")]
        if version is not None:
            docs = [d for d in docs if d["FunctionVersion"] == version]
        return [self._shown(d) for d in docs]

    @staticmethod
    def pick_version(alias: Doc, rng: random.Random | None = None) -> str:
        """The version one invocation through this alias runs (weighted routing)."""
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        roll = (rng or random).random()
        for version, weight in weights.items():
            if roll < weight:
                return str(version)
        return str(alias["FunctionVersion"])

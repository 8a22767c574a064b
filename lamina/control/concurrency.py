"""Reserved and provisioned concurrency: validation and stored state.

Reserved concurrency lives in the FUNCTION document (`reserved_concurrency`),
because it is function-level configuration that GetFunction shows. Provisioned
concurrency configs are documents of kind PROVISIONED keyed `<function>/<qualifier>`
(a version or an alias) holding the wire fields plus `_version` (the version the
environments run: the alias's target for an alias) and `_generation` (bumped on
every change so that a provisioner finishing late cannot overwrite a newer
request). The environments themselves are the provisioner's business
(lamina.invoke.provisioning); this module only records what is wanted and the
status the provisioner reports, and tells listeners that limits changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lamina.arns import LATEST, is_version
from lamina.control.aliases import Aliases
from lamina.control.functions import Functions
from lamina.control.resolve import FUNCTION, public, timestamp
from lamina.errors import (
    InvalidParameterValueException,
    ProvisionedConcurrencyConfigNotFoundException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lamina.store.base import Doc

PROVISIONED = "provisioned"

QUALIFIED_REJECTED = ("This operation is permitted on Lambda functions only. Aliases and versions do "
                      "not support this operation. Please specify either a function name or an "
                      "unqualified function ARN.")
PC_NOT_FOUND = "No Provisioned Concurrency Config found for this function"
PC_UNPUBLISHED = "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
PC_NEEDS_QUALIFIER = "The function resource provided must be an alias or a published version."
PC_ALIAS_ON_PROVISIONED = ("Alias can't be used for Provisioned Concurrency configuration on an "
                           "already Provisioned version")
PC_VERSION_OF_ALIAS = "Version is pointed by a Provisioned Concurrency alias"
PC_OVER_RESERVED = ("Requested Provisioned Concurrency should not be greater than the "
                    "reservedConcurrentExecution for function")


def _below_minimum(what: str, minimum: int) -> InvalidParameterValueException:
    return InvalidParameterValueException(
        f"Specified {what} for function decreases account's UnreservedConcurrentExecution below "
        f"its minimum value of [{minimum}].")


class Concurrency:
    """Reserved and provisioned concurrency of every function. Called on the event loop."""

    def __init__(self, functions: Functions, aliases: Aliases, account_limit: int,
                 unreserved_minimum: int) -> None:
        self.functions = functions
        self.store = functions.store
        self.resolve = functions.resolve
        self.arns = functions.arns
        self.account_limit = account_limit
        self.unreserved_minimum = unreserved_minimum
        # Called with no arguments whenever reserved or provisioned concurrency changed.
        self.listeners: list[Callable[[], None]] = []
        # Instance lists (the class attributes on Functions are shared defaults).
        functions.register_dependent(PROVISIONED, self._version_guard)
        aliases.move_listeners.append(self._alias_moved)
        aliases.delete_listeners.append(self._alias_deleted)

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    # -- reserved concurrency ---------------------------------------------------------------

    def _unqualified(self, function_name: str) -> str:
        ref, qualifier = self.resolve.ref(function_name)
        if qualifier is not None:
            raise InvalidParameterValueException(QUALIFIED_REJECTED)
        return ref.name

    def reserved_total(self, exclude: str | None = None) -> int:
        return sum(doc.get("reserved_concurrency") or 0 for name, doc in self.store.scan(FUNCTION)
                   if name != exclude)

    def provisioned_total(self, name: str, exclude_qualifier: str | None = None) -> int:
        return sum(doc["RequestedProvisionedConcurrentExecutions"]
                   for key, doc in self.store.scan(PROVISIONED, f"{name}/")
                   if key != f"{name}/{exclude_qualifier}")

    def put_reserved(self, function_name: str, value: int) -> dict[str, Any]:
        name = self._unqualified(function_name)
        with self.store.transaction():
            function = self.resolve.function(name, LATEST)
            others = self.reserved_total(exclude=name)
            if self.account_limit - others - value < self.unreserved_minimum:
                raise _below_minimum("ReservedConcurrentExecutions", self.unreserved_minimum)
            provisioned = self.provisioned_total(name)
            if value < provisioned:
                raise InvalidParameterValueException(
                    f" ReservedConcurrentExecutions  {value} should not be lower than function's "
                    f"total provisioned concurrency [{provisioned}].")
            function["reserved_concurrency"] = value
            self.store.put(FUNCTION, name, function)
        self._changed()
        return {"ReservedConcurrentExecutions": value}

    def get_reserved(self, function_name: str) -> dict[str, Any]:
        name = self._unqualified(function_name)
        value = self.resolve.function(name).get("reserved_concurrency")
        return {} if value is None else {"ReservedConcurrentExecutions": value}

    def delete_reserved(self, function_name: str) -> None:
        name = self._unqualified(function_name)
        with self.store.transaction():
            function = self.resolve.function(name)
            function.pop("reserved_concurrency", None)
            self.store.put(FUNCTION, name, function)
        self._changed()

    # -- provisioned concurrency: lookups ---------------------------------------------------

    def _target(self, function_name: str, qualifier: str, latest_message: str) -> tuple[str, str, str]:
        """(function, qualifier, version it designates), with AWS's not-found messages."""
        ref, qualifier_ = self.resolve.ref(function_name, qualifier)
        qualifier = qualifier_ or qualifier
        if qualifier == LATEST:
            raise InvalidParameterValueException(latest_message)
        name = ref.name
        if self.store.get(FUNCTION, name) is None and not is_version(qualifier):
            # A missing function is reported by what the qualifier looks like (recorded:
            # test_provisioned_concurrency_exceptions, *_functionname_doesnotexist[_alias]).
            raise ResourceNotFoundException(
                f"Cannot find alias arn: {self.arns.function(name, qualifier)}")
        self.resolve.function(name, qualifier)
        if is_version(qualifier):
            if self.resolve.version(name, qualifier) is None:
                raise self.resolve.not_found(name, qualifier)
            return name, qualifier, qualifier
        alias = self.resolve.alias(name, qualifier)
        if alias is None:
            raise ResourceNotFoundException(
                f"Cannot find alias arn: {self.arns.function(name, qualifier)}")
        return name, qualifier, alias["FunctionVersion"]

    @staticmethod
    def _shown(doc: Doc) -> dict[str, Any]:
        out = public(doc)
        if not out.get("StatusReason"):
            out.pop("StatusReason", None)
        return out

    def get_provisioned(self, function_name: str, qualifier: str) -> dict[str, Any]:
        name, qualifier, _ = self._target(function_name, qualifier, PC_NEEDS_QUALIFIER)
        doc = self.store.get(PROVISIONED, f"{name}/{qualifier}")
        if doc is None:
            raise ProvisionedConcurrencyConfigNotFoundException(PC_NOT_FOUND)
        return self._shown(doc)

    def list_provisioned(self, function_name: str) -> list[dict[str, Any]]:
        ref, _ = self.resolve.ref(function_name)
        self.resolve.function(ref.name)
        out = []
        for key, doc in self.store.scan(PROVISIONED, f"{ref.name}/"):
            item = self._shown(doc)
            item["FunctionArn"] = self.arns.function(ref.name, key.split("/", 1)[1])
            out.append(item)
        return out

    # -- provisioned concurrency: changes ---------------------------------------------------

    def _provisioned_on(self, name: str, version: str, exclude_qualifier: str) -> str | None:
        """The qualifier whose provisioned config runs `version`, other than the one given."""
        for key, doc in self.store.scan(PROVISIONED, f"{name}/"):
            qualifier = key.split("/", 1)[1]
            if qualifier != exclude_qualifier and doc["_version"] == version:
                return qualifier
        return None

    def put_provisioned(self, function_name: str, qualifier: str, count: int) -> dict[str, Any]:
        name, qualifier, version = self._target(function_name, qualifier, PC_UNPUBLISHED)
        with self.store.transaction():
            function = self.resolve.function(name, qualifier)
            reserved = function.get("reserved_concurrency")
            if reserved is not None:
                if self.provisioned_total(name, exclude_qualifier=qualifier) + count > reserved:
                    raise InvalidParameterValueException(PC_OVER_RESERVED)
            else:
                if count > self.account_limit:
                    raise InvalidParameterValueException(
                        "Specified ConcurrentExecutions for function is greater than account's "
                        f"unreserved concurrency [{self.account_limit}].")
                claimed = sum(self.provisioned_total(n, exclude_qualifier=qualifier if n == name
                                                     else None)
                              for n, doc in self.store.scan(FUNCTION)
                              if doc.get("reserved_concurrency") is None)
                unreserved = self.account_limit - self.reserved_total()
                if unreserved - claimed - count < self.unreserved_minimum:
                    raise _below_minimum("ConcurrentExecutions", self.unreserved_minimum)
            holder = self._provisioned_on(name, version, exclude_qualifier=qualifier)
            if holder is not None:
                raise ResourceConflictException(
                    PC_VERSION_OF_ALIAS if is_version(qualifier) and not is_version(holder)
                    else PC_ALIAS_ON_PROVISIONED)
            key = f"{name}/{qualifier}"
            previous = self.store.get(PROVISIONED, key) or {}
            doc: Doc = {
                "RequestedProvisionedConcurrentExecutions": count,
                "AvailableProvisionedConcurrentExecutions": 0,
                "AllocatedProvisionedConcurrentExecutions": 0,
                "Status": "IN_PROGRESS",
                "LastModified": timestamp(),
                "_version": version,
                "_generation": int(previous.get("_generation", 0)) + 1,
            }
            self.store.put(PROVISIONED, key, doc)
        self._changed()
        return self._shown(doc)

    def delete_provisioned(self, function_name: str, qualifier: str) -> None:
        """Idempotent: deleting a config that does not exist answers 204 like a deletion
        (recorded: test_provisioned_concurrency_exceptions, delete_provisioned_config_doesnotexist);
        the function and qualifier must exist."""
        name, qualifier, _ = self._target(function_name, qualifier, PC_NEEDS_QUALIFIER)
        if self.store.delete(PROVISIONED, f"{name}/{qualifier}"):
            self._changed()

    # -- hooks from functions and aliases ---------------------------------------------------

    def _version_guard(self, name: str, version: str) -> None:
        for key, doc in self.store.scan(PROVISIONED, f"{name}/"):
            if doc["_version"] == version and not is_version(key.split("/", 1)[1]):
                raise ResourceConflictException(PC_VERSION_OF_ALIAS)

    def _alias_moved(self, name: str, alias: str, old: Doc, new: Doc) -> None:
        """UpdateAlias repointed an alias: its provisioned config follows (inside the update's
        transaction, so a conflict rejects the update)."""
        key = f"{name}/{alias}"
        doc = self.store.get(PROVISIONED, key)
        if doc is None or old["FunctionVersion"] == new["FunctionVersion"]:
            return
        version = new["FunctionVersion"]
        if self._provisioned_on(name, version, exclude_qualifier=alias) is not None:
            raise ResourceConflictException(PC_ALIAS_ON_PROVISIONED)
        doc.update({"_version": version, "_generation": int(doc["_generation"]) + 1,
                    "Status": "IN_PROGRESS", "AllocatedProvisionedConcurrentExecutions": 0,
                    "AvailableProvisionedConcurrentExecutions": 0, "LastModified": timestamp()})
        doc.pop("StatusReason", None)
        self.store.put(PROVISIONED, key, doc)
        self._changed()

    def _alias_deleted(self, name: str, alias: str) -> None:
        """DeleteAlias takes the alias's provisioned concurrency with it."""
        self.drop(f"{name}/{alias}")

    # -- for the provisioner and admission ----------------------------------------------------

    def configs(self) -> list[tuple[str, Doc]]:
        """Every provisioned config as (`<function>/<qualifier>`, stored document)."""
        return self.store.scan(PROVISIONED)

    def still_valid(self, key: str, doc: Doc) -> bool:
        """Whether the function and the qualifier of a config still exist (belt and braces:
        the hooks above normally drop a config with its alias, version or function)."""
        name, qualifier = key.split("/", 1)
        if self.store.get(FUNCTION, name) is None:
            return False
        if is_version(qualifier):
            return self.resolve.version(name, qualifier) is not None
        alias = self.resolve.alias(name, qualifier)
        return alias is not None and alias["FunctionVersion"] == doc["_version"]

    def drop(self, key: str) -> None:
        if self.store.delete(PROVISIONED, key):
            self._changed()

    def report(self, key: str, generation: int, allocated: int, failure: str | None) -> None:
        """The provisioner's outcome for one generation of a config; stale ones are ignored."""
        with self.store.transaction():
            doc = self.store.get(PROVISIONED, key)
            if doc is None or doc["_generation"] != generation:
                return
            doc["AllocatedProvisionedConcurrentExecutions"] = allocated
            doc["AvailableProvisionedConcurrentExecutions"] = allocated
            if failure is None:
                doc["Status"] = "READY"
                doc.pop("StatusReason", None)
            else:
                doc["Status"] = "FAILED"
                doc["StatusReason"] = failure
            self.store.put(PROVISIONED, key, doc)

    def limits(self) -> tuple[dict[str, int], dict[str, int]]:
        """(function -> reserved concurrency, function -> Σ requested provisioned concurrency)."""
        reserved = {name: doc["reserved_concurrency"] for name, doc in self.store.scan(FUNCTION)
                    if doc.get("reserved_concurrency") is not None}
        provisioned: dict[str, int] = {}
        for key, doc in self.store.scan(PROVISIONED):
            name = key.split("/", 1)[0]
            provisioned[name] = provisioned.get(name, 0) + doc["RequestedProvisionedConcurrentExecutions"]
        return reserved, provisioned

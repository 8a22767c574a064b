"""Per-function settings that only store a choice: recursion and runtime management.

Recursive loop detection: one document of kind `recursion_config` per function
(key: the name), ``{"RecursiveLoop": "Allow"|"Terminate"}``; a function that
never had a Put answers AWS's default, ``Terminate``. Lamina stores the choice
and answers it; it does not trace event chains to stop loops.

Runtime management: one document of kind `runtime_management_config` per
function version (key ``"<function>/<version>"``); a version without one
answers ``UpdateRuntimeOn: Auto``. ``RuntimeVersionArn`` is required for (and
only accepted with) ``Manual`` and is answered only then, as AWS documents. An
alias qualifier addresses the version it points to. Lamina runs the
interpreters installed on the host, so the mode does not pin an interpreter
build; the setting is kept for clients and infrastructure tools.
"""

from __future__ import annotations

from typing import Any

from lamina.arns import LATEST
from lamina.control.functions import Functions
from lamina.control.resolve import FUNCTION
from lamina.errors import InvalidParameterValueException
from lamina.store.base import Doc

RECURSION_CONFIG = "recursion_config"
RUNTIME_MANAGEMENT = "runtime_management_config"
DEFAULT_RECURSIVE_LOOP = "Terminate"
DEFAULT_UPDATE_RUNTIME_ON = "Auto"


class FunctionSettings:
    """Validation and state of recursion and runtime management configs."""

    def __init__(self, functions: Functions) -> None:
        self.functions = functions
        self.store = functions.store
        self.resolve = functions.resolve
        self.arns = functions.arns
        functions.register_dependent(RECURSION_CONFIG)
        functions.register_dependent(RUNTIME_MANAGEMENT, self._version_deleted)

    # -- recursion --------------------------------------------------------------------------

    def get_recursion(self, function_name: str) -> Doc:
        name = self._function(function_name)
        doc = self.store.get(RECURSION_CONFIG, name) or {}
        return {"RecursiveLoop": doc.get("RecursiveLoop", DEFAULT_RECURSIVE_LOOP)}

    def put_recursion(self, function_name: str, recursive_loop: str) -> Doc:
        with self.store.transaction():
            name = self._function(function_name)
            self.store.put(RECURSION_CONFIG, name, {"RecursiveLoop": recursive_loop})
        return {"RecursiveLoop": recursive_loop}

    def recursive_loop(self, name: str) -> str:
        """The stored choice for `name` (for an invoker that detects loops)."""
        doc = self.store.get(RECURSION_CONFIG, name) or {}
        return str(doc.get("RecursiveLoop", DEFAULT_RECURSIVE_LOOP))

    # -- runtime management -----------------------------------------------------------------

    def get_runtime_management(self, function_name: str, qualifier: str | None) -> Doc:
        name, version, shown = self._version(function_name, qualifier)
        doc = self.store.get(RUNTIME_MANAGEMENT, f"{name}/{version}") or {}
        out: Doc = {"UpdateRuntimeOn": doc.get("UpdateRuntimeOn", DEFAULT_UPDATE_RUNTIME_ON)}
        if doc.get("RuntimeVersionArn"):
            out["RuntimeVersionArn"] = doc["RuntimeVersionArn"]
        out["FunctionArn"] = self.arns.function(name, shown)
        return out

    def put_runtime_management(self, p: dict[str, Any]) -> Doc:
        mode = p["UpdateRuntimeOn"]
        runtime_version = p.get("RuntimeVersionArn")
        if mode == "Manual" and not runtime_version:
            raise InvalidParameterValueException(
                "RuntimeVersionArn is required when UpdateRuntimeOn is Manual.")
        if mode != "Manual" and runtime_version:
            raise InvalidParameterValueException(
                f"RuntimeVersionArn can only be specified when UpdateRuntimeOn is Manual, "
                f"but UpdateRuntimeOn is {mode}.")
        if runtime_version and runtime_version.split(":")[3] != self.arns.region:
            raise InvalidParameterValueException(
                f"The runtime version {runtime_version} is not available in this region "
                f"('{self.arns.region}').")
        with self.store.transaction():
            name, version, shown = self._version(p["FunctionName"], p.get("Qualifier"))
            doc: Doc = {"UpdateRuntimeOn": mode}
            if runtime_version:
                doc["RuntimeVersionArn"] = runtime_version
            self.store.put(RUNTIME_MANAGEMENT, f"{name}/{version}", doc)
        out: Doc = {"UpdateRuntimeOn": mode, "FunctionArn": self.arns.function(name, shown)}
        if runtime_version:
            out["RuntimeVersionArn"] = runtime_version
        return out

    # -- helpers ----------------------------------------------------------------------------

    def _version_deleted(self, name: str, version: str) -> None:
        self.store.delete(RUNTIME_MANAGEMENT, f"{name}/{version}")

    def _function(self, function_name: str) -> str:
        ref = self.resolve.ref(function_name)[0]
        if self.store.get(FUNCTION, ref.name) is None:
            raise self.resolve.not_found(ref.name)
        return ref.name

    def _version(self, function_name: str, qualifier: str | None) -> tuple[str, str, str | None]:
        """(name, version the config belongs to, qualifier for the answered FunctionArn).

        An unqualified request is about `$LATEST` and answers the unqualified ARN (AWS's
        documented example); a qualified one answers the ARN with that qualifier.
        """
        target = self.resolve.target(function_name, qualifier)
        return target.name, target.version or LATEST, target.qualifier

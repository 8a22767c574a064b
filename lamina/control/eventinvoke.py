"""Event invoke configs: retry settings and destinations for asynchronous invocation.

One document per function qualifier, kind `event_invoke_config`, key
``"<function>/<qualifier>"`` (an unqualified name means `$LATEST`). `Put`
replaces the whole config, `Update` merges the members it is given into an
existing one. The wire shape is AWS's: members that were never set are omitted,
`DestinationConfig` is always present (``{"OnFailure": {}, "OnSuccess": {}}``
when empty) and `LastModified` is epoch seconds.

The messages follow what AWS answers (recorded): a missing function on
Put/Update/List is "The function doesn't exist.", a missing config on
Get/Update/Delete names the qualified ARN.
"""

from __future__ import annotations

import time
from typing import Any

from lamina.arns import LATEST, FunctionRef, parse_resource_arn
from lamina.control.functions import Functions
from lamina.control.resolve import FUNCTION
from lamina.errors import InvalidParameterValueException, ResourceNotFoundException
from lamina.store.base import Doc

EVENT_INVOKE_CONFIG = "event_invoke_config"

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 21600
_SETTINGS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
# Destination services; S3 takes only failure records.
_SUCCESS_SERVICES = {"lambda", "sqs", "sns", "events"}
_FAILURE_SERVICES = _SUCCESS_SERVICES | {"s3"}


def config_key(name: str, qualifier: str | None) -> str:
    return f"{name}/{qualifier or LATEST}"


class EventInvokeConfigs:
    """Validation and state of event invoke configs. Methods run on the event loop."""

    def __init__(self, functions: Functions) -> None:
        self.functions = functions
        self.store = functions.store
        self.resolve = functions.resolve
        self.arns = functions.arns
        # Deleting a function deletes its configs; deleting a version deletes that version's.
        # (Copied onto the instance, never appended to the class-wide default lists.)
        functions.register_dependent(EVENT_INVOKE_CONFIG, self._version_deleted)

    # -- reads ------------------------------------------------------------------------------

    def get(self, function_name: str, qualifier: str | None) -> Doc:
        name, qualifier = self._name_and_qualifier(function_name, qualifier)
        return self._shown(self._existing(name, qualifier))

    def list(self, function_name: str) -> list[Doc]:
        name = self._existing_function(function_name, None)[0]
        return [self._shown(doc) for _, doc in self.store.scan(EVENT_INVOKE_CONFIG, f"{name}/")]

    def find(self, name: str, qualifier: str | None) -> Doc | None:
        """The stored config an asynchronous invocation of `name:qualifier` uses, if any.

        An unqualified invocation is an invocation of `$LATEST`; a version or alias
        uses only its own config (AWS does not fall back from an alias to its version).
        """
        return self.store.get(EVENT_INVOKE_CONFIG, config_key(name, qualifier))

    # -- writes -----------------------------------------------------------------------------

    def put(self, p: dict[str, Any]) -> Doc:
        """Replace the config of a function, version or alias (create it if needed)."""
        self._needs_a_setting(p)
        name, qualifier = self._existing_function(p["FunctionName"], p.get("Qualifier"))
        doc: Doc = {"function": name, "qualifier": qualifier or LATEST}
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if p.get(key) is not None:
                doc[key] = p[key]
        doc["DestinationConfig"] = self._destinations(name, p.get("DestinationConfig"))
        doc["LastModified"] = time.time()
        self.store.put(EVENT_INVOKE_CONFIG, config_key(name, qualifier), doc)
        return self._shown(doc)

    def update(self, p: dict[str, Any]) -> Doc:
        """Merge the given members into an existing config.

        A given `DestinationConfig` replaces the stored one as a whole.
        """
        self._needs_a_setting(p)
        name, qualifier = self._existing_function(p["FunctionName"], p.get("Qualifier"))
        with self.store.transaction():
            doc = self._existing(name, qualifier)
            if p.get("DestinationConfig") is not None:
                doc["DestinationConfig"] = self._destinations(name, p["DestinationConfig"])
            for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
                if p.get(key) is not None:
                    doc[key] = p[key]
            doc["LastModified"] = time.time()
            self.store.put(EVENT_INVOKE_CONFIG, config_key(name, qualifier), doc)
        return self._shown(doc)

    def delete(self, function_name: str, qualifier: str | None) -> None:
        name, qualifier = self._name_and_qualifier(function_name, qualifier)
        if not self.store.delete(EVENT_INVOKE_CONFIG, config_key(name, qualifier)):
            raise self._missing(name, qualifier)

    # -- helpers ----------------------------------------------------------------------------

    def _version_deleted(self, name: str, version: str) -> None:
        self.store.delete(EVENT_INVOKE_CONFIG, config_key(name, version))

    @staticmethod
    def _needs_a_setting(p: dict[str, Any]) -> None:
        if all(p.get(key) is None for key in _SETTINGS):
            raise InvalidParameterValueException(
                "You must specify at least one of error handling or destination setting.")

    def _name_and_qualifier(self, function_name: str, qualifier: str | None) -> tuple[str, str]:
        ref, qualifier = self.resolve.ref(function_name, qualifier)
        return ref.name, qualifier or LATEST

    def _existing_function(self, function_name: str, qualifier: str | None) -> tuple[str, str | None]:
        """The function (and qualifier) a Put/Update/List names; it must exist."""
        try:
            ref, qualifier = self.resolve.ref(function_name, qualifier)
        except ResourceNotFoundException:
            raise ResourceNotFoundException("The function doesn't exist.") from None
        if self.store.get(FUNCTION, ref.name) is None:
            raise ResourceNotFoundException("The function doesn't exist.")
        if qualifier not in (None, LATEST):
            try:
                self.resolve.target(ref.name, qualifier)
            except ResourceNotFoundException:
                raise ResourceNotFoundException("The function doesn't exist.") from None
        return ref.name, qualifier

    def _existing(self, name: str, qualifier: str | None) -> Doc:
        doc = self.store.get(EVENT_INVOKE_CONFIG, config_key(name, qualifier))
        if doc is None:
            raise self._missing(name, qualifier)
        return doc

    def _missing(self, name: str, qualifier: str | None) -> ResourceNotFoundException:
        arn = self.arns.function(name, qualifier or LATEST)
        return ResourceNotFoundException(f"The function {arn} doesn't have an EventInvokeConfig")

    def _shown(self, doc: Doc) -> Doc:
        out: Doc = {}
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if key in doc:
                out[key] = doc[key]
        out["DestinationConfig"] = {k: dict(v) for k, v in doc["DestinationConfig"].items()}
        out["LastModified"] = doc["LastModified"]
        out["FunctionArn"] = self.arns.function(doc["function"], doc["qualifier"])
        return out

    def _destinations(self, name: str, given: dict[str, Any] | None) -> Doc:
        """Validate a DestinationConfig and normalise it to both members, possibly empty."""
        given = given or {}
        success = ((given.get("OnSuccess") or {}).get("Destination")) or None
        failure = ((given.get("OnFailure") or {}).get("Destination")) or None
        for arn, services in ((success, _SUCCESS_SERVICES), (failure, _FAILURE_SERVICES)):
            if arn is not None and not self._valid_destination(name, arn, services):
                raise InvalidParameterValueException(
                    "The provided destination config DestinationConfig(onSuccess="
                    f"{f'OnSuccess(destination={success})' if success else 'null'}, onFailure="
                    f"{f'OnFailure(destination={failure})' if failure else 'null'}) is invalid.")
        return {"OnFailure": {"Destination": failure} if failure else {},
                "OnSuccess": {"Destination": success} if success else {}}

    def _valid_destination(self, name: str, arn: str, services: set[str]) -> bool:
        """False for an unsupported target; raises AWS's own message for bad functions."""
        parts = parse_resource_arn(arn)
        if parts is None or parts["service"] not in services:
            return False
        if parts["service"] != "lambda":
            return True
        try:
            ref = FunctionRef.parse(arn)
        except ValueError:
            ref = None
        if (ref is None or not parts["resource"].startswith("function:")
                or (ref.account not in (None, self.arns.account))
                or (ref.region not in (None, self.arns.region))
                or self.store.get(FUNCTION, ref.name) is None):
            raise InvalidParameterValueException(f"The destination ARN {arn} is invalid.")
        if ref.name == name:
            raise InvalidParameterValueException(
                "You can't specify the function as a destination for itself.")
        return True

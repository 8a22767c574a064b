"""Event source mappings: validation, defaults and state of the mapping documents.

One document per mapping, kind `event_source_mapping`, key = its UUID. A document
is the wire `EventSourceMappingConfiguration` plus internal fields: `_function`
(name), `_source` (sqs | kinesis | dynamodb), `_enabled`, `_created`, `_tags`.

States: AWS answers Create with `Creating`, Update with `Updating` (`Enabling` /
`Disabling` when `Enabled` flips) and Delete with `Deleting`, and reaches the
resting state (`Enabled` / `Disabled` / gone) a moment later. Lamina stores the
resting state at once and only *answers* the transitional one: the pollers are
started or stopped by the `listeners` (called with the UUID after every change),
and nothing is left half-done across a restart.

Deleting a function leaves its mappings in place, as AWS does; their pollers
then fail to invoke and back off.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from typing import Any

from lamina.arns import parse_resource_arn
from lamina.control.functions import Functions
from lamina.control.tags import TagSet, tag_limit_check
from lamina.errors import (
    InvalidParameterValueException,
    LaminaError,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lamina.events.filters import InvalidFilter, compile_filters
from lamina.model.messages import invalid_parameter
from lamina.store.base import Doc

EVENT_SOURCE_MAPPING = "event_source_mapping"
NOT_FOUND = "The resource you requested does not exist."
SQS, KINESIS, DYNAMODB = "sqs", "kinesis", "dynamodb"
STREAMS = (KINESIS, DYNAMODB)

_STREAM_ONLY = ("StartingPosition", "ParallelizationFactor", "BisectBatchOnFunctionError",
                "MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "TumblingWindowInSeconds",
                "DestinationConfig")
# Members Update may change, per source family.
_COMMON_UPDATES = ("BatchSize", "MaximumBatchingWindowInSeconds", "FilterCriteria",
                   "FunctionResponseTypes")
_SQS_UPDATES = ("ScalingConfig",)
_STREAM_UPDATES = ("ParallelizationFactor", "BisectBatchOnFunctionError", "MaximumRetryAttempts",
                   "MaximumRecordAgeInSeconds", "TumblingWindowInSeconds", "DestinationConfig")
_DESTINATION_SERVICES = {"sqs", "sns", "s3"}


def source_kind(arn: str | None) -> str | None:
    """sqs, kinesis or dynamodb for an ARN Lamina can poll; None otherwise."""
    parts = parse_resource_arn(arn or "")
    if parts is None:
        return None
    service, resource = parts["service"], parts["resource"]
    if service == "sqs" and resource:
        return SQS
    if service == "kinesis" and resource.startswith("stream/") and "/consumer/" not in resource:
        return KINESIS
    if service == "dynamodb" and resource.startswith("table/") and "/stream/" in resource:
        return DYNAMODB
    return None


def public(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


class EventSourceMappings:
    """Create/Get/Update/Delete/List mappings. Methods run on the event loop."""

    def __init__(self, functions: Functions) -> None:
        self.functions = functions
        self.store = functions.store
        self.arns = functions.arns
        self.listeners: list[Callable[[str], None]] = []
        self.tags = TagSet(self.store, "_tags", self._tagged)

    # -- reads ------------------------------------------------------------------------------

    def get(self, mapping_id: str) -> Doc:
        return public(self._existing(mapping_id))

    def find(self, mapping_id: str) -> Doc | None:
        """The stored document (with internal fields), or None."""
        return self.store.get(EVENT_SOURCE_MAPPING, mapping_id)

    def all(self) -> list[Doc]:
        docs = [doc for _, doc in self.store.scan(EVENT_SOURCE_MAPPING)]
        return sorted(docs, key=lambda d: (d.get("_created", 0), d["UUID"]))

    def list(self, function_name: str | None, source_arn: str | None) -> list[Doc]:
        wanted_name = wanted_arn = None
        if function_name:
            try:
                ref = self.functions.resolve.ref(function_name)[0]
            except (ValueError, LaminaError):
                return []
            wanted_name = ref.name
            if ref.qualifier:
                wanted_arn = self.arns.function(ref.name, ref.qualifier)
        out = []
        for doc in self.all():
            if source_arn and doc.get("EventSourceArn") != source_arn:
                continue
            if wanted_name and doc["_function"] != wanted_name:
                continue
            if wanted_arn and doc["FunctionArn"] != wanted_arn:
                continue
            out.append(public(doc))
        return out

    # -- writes -----------------------------------------------------------------------------

    def create(self, p: dict[str, Any]) -> Doc:
        source_arn = p.get("EventSourceArn")
        kind = source_kind(source_arn)
        if p.get("SelfManagedEventSource") and not p.get("SourceAccessConfigurations"):
            # Lamina polls no Kafka, but AWS's first complaint is this one (recorded:
            # test_create_event_source_self_managed, missing-source-access-configuration).
            raise InvalidParameterValueException(
                "Required 'sourceAccessConfigurations' parameter is missing.")
        if kind is None:
            raise InvalidParameterValueException("Unrecognized event source.")
        assert source_arn is not None
        if kind == SQS and p.get("DestinationConfig"):
            # Checked before the function exists (recorded: test_event_source_mapping_exceptions,
            # destination_config_failure, with FunctionName="doesnotexist").
            raise InvalidParameterValueException(
                "Unsupported DestinationConfig parameter for given event source mapping type.")
        name, function_arn = self._function(p["FunctionName"])
        self._check_family(kind, p, source_arn)
        tag_limit_check(len(p.get("Tags") or {}))
        stream = kind in STREAMS
        mapping_id = str(uuid.uuid4())
        doc: Doc = {
            "UUID": mapping_id,
            "BatchSize": p.get("BatchSize") or (100 if stream else 10),
            "MaximumBatchingWindowInSeconds": p.get("MaximumBatchingWindowInSeconds") or 0,
            "EventSourceArn": source_arn,
            "FunctionArn": function_arn,
            "LastModified": time.time(),
            "State": "Enabled" if p.get("Enabled", True) else "Disabled",
            # AWS's wording differs by family (recorded): SQS "USER_INITIATED", streams "User action".
            "StateTransitionReason": "User action" if stream else "USER_INITIATED",
            "FunctionResponseTypes": list(p.get("FunctionResponseTypes") or []),
            "EventSourceMappingArn": self.arns.event_source_mapping(mapping_id),
            "_function": name,
            "_source": kind,
            "_enabled": bool(p.get("Enabled", True)),
            "_created": time.time(),
            "_tags": dict(p.get("Tags") or {}),
        }
        if (p.get("FilterCriteria") or {}).get("Filters"):
            # An empty filter list is not echoed (recorded: test_create_event_filter_criteria_
            # validation, response-with-empty-filters).
            doc["FilterCriteria"] = p["FilterCriteria"]
        if stream:
            doc.update({
                "StartingPosition": p["StartingPosition"],
                "ParallelizationFactor": p.get("ParallelizationFactor") or 1,
                "LastProcessingResult": "No records processed",
                "DestinationConfig": {"OnFailure": {}},
                "MaximumRecordAgeInSeconds": p.get("MaximumRecordAgeInSeconds", -1),
                "BisectBatchOnFunctionError": bool(p.get("BisectBatchOnFunctionError", False)),
                "MaximumRetryAttempts": p.get("MaximumRetryAttempts", -1),
                "TumblingWindowInSeconds": p.get("TumblingWindowInSeconds") or 0,
            })
            if p.get("StartingPositionTimestamp") is not None:
                doc["StartingPositionTimestamp"] = _epoch(p["StartingPositionTimestamp"])
            if p.get("DestinationConfig"):
                doc["DestinationConfig"] = self._destination(p["DestinationConfig"])
        elif p.get("ScalingConfig"):
            doc["ScalingConfig"] = p["ScalingConfig"]
        with self.store.transaction():
            for other in self.all():
                if other["EventSourceArn"] == source_arn and other["FunctionArn"] == function_arn:
                    raise ResourceConflictException(_duplicate(kind, source_arn, name,
                                                               other["UUID"]))
            self.store.put(EVENT_SOURCE_MAPPING, mapping_id, doc)
        self._notify(mapping_id)
        return {**public(doc), "State": "Creating"}

    def update(self, p: dict[str, Any]) -> Doc:
        mapping_id = p["UUID"]
        with self.store.transaction():
            doc = self._existing(mapping_id)
            kind = doc["_source"]
            merged = {k: v for k, v in doc.items() if not k.startswith("_")}
            merged.update({k: v for k, v in p.items() if v is not None})
            self._check_family(kind, {k: v for k, v in p.items() if k != "UUID"},
                               doc["EventSourceArn"], merged=merged)
            if p.get("FunctionName"):
                doc["_function"], doc["FunctionArn"] = self._function(p["FunctionName"])
            allowed = _COMMON_UPDATES + (_STREAM_UPDATES if kind in STREAMS else _SQS_UPDATES)
            for key in allowed:
                if p.get(key) is None:
                    continue
                if key == "DestinationConfig":
                    doc[key] = self._destination(p[key])
                elif key == "FilterCriteria" and not (p[key].get("Filters") or []):
                    doc.pop(key, None)      # an empty FilterCriteria removes the filters
                else:
                    doc[key] = p[key]
            shown_state = "Updating"
            if p.get("Enabled") is not None and bool(p["Enabled"]) != doc["_enabled"]:
                shown_state = "Enabling" if p["Enabled"] else "Disabling"
                doc["_enabled"] = bool(p["Enabled"])
            doc["State"] = "Enabled" if doc["_enabled"] else "Disabled"
            doc["LastModified"] = time.time()
            self.store.put(EVENT_SOURCE_MAPPING, mapping_id, doc)
        self._notify(mapping_id)
        return {**public(doc), "State": shown_state}

    def delete(self, mapping_id: str) -> Doc:
        with self.store.transaction():
            doc = self._existing(mapping_id)
            self.store.delete(EVENT_SOURCE_MAPPING, mapping_id)
        self._notify(mapping_id)
        return {**public(doc), "State": "Deleting"}

    # -- tags (TagResource & co. on an event-source-mapping ARN) ----------------------------

    def _tagged(self, resource: str) -> tuple[str, str, Doc]:
        doc = self.store.get(EVENT_SOURCE_MAPPING, resource.rsplit(":", 1)[-1])
        if doc is None:
            # Tag operations name the ARN (recorded: test_tag_exceptions[event_source_mapping]).
            raise ResourceNotFoundException(f"Event source mapping not found: {resource}")
        return EVENT_SOURCE_MAPPING, doc["UUID"], doc

    # -- validation -------------------------------------------------------------------------

    def _existing(self, mapping_id: str) -> Doc:
        doc = self.store.get(EVENT_SOURCE_MAPPING, mapping_id)
        if doc is None:
            raise ResourceNotFoundException(NOT_FOUND)
        return doc

    def _function(self, function_name: str) -> tuple[str, str]:
        try:
            target = self.functions.resolve.target(function_name)
        except ResourceNotFoundException:
            raise InvalidParameterValueException("Function does not exist") from None
        return target.name, self.arns.function(target.name, target.qualifier)

    def _check_family(self, kind: str, p: dict[str, Any], arn: str,
                      merged: dict[str, Any] | None = None) -> None:
        """Family rules; `merged` (Update) is the configuration the mapping would end up with."""
        final = merged if merged is not None else p
        if kind == SQS:
            for key in _STREAM_ONLY:
                if p.get(key) is not None and not (key == "DestinationConfig" and not p[key]):
                    raise InvalidParameterValueException(
                        f"Unsupported {key} parameter for given event source mapping type.")
            batch = final.get("BatchSize") or 10
            window = final.get("MaximumBatchingWindowInSeconds") or 0
            fifo = arn.endswith(".fifo")
            if batch > 10 and window == 0:
                raise InvalidParameterValueException(
                    "Maximum batch window in seconds must be greater than 0 if maximum batch size "
                    "is greater than 10")
            if fifo and batch > 10:
                raise InvalidParameterValueException("Batch size must not exceed 10 for FIFO queues")
            if fifo and window > 0:
                raise InvalidParameterValueException("Batching window is not supported for FIFO queues")
        else:
            if p.get("ScalingConfig"):
                raise InvalidParameterValueException(
                    "Unsupported ScalingConfig parameter for given event source mapping type.")
            if merged is None:
                position = p.get("StartingPosition")
                if position is None:
                    raise invalid_parameter("startingPosition", None, "Member must not be null.")
                if position == "AT_TIMESTAMP" and kind == DYNAMODB:
                    raise InvalidParameterValueException(
                        f"Unsupported starting position for arn type: {arn}")
                if position == "AT_TIMESTAMP" and p.get("StartingPositionTimestamp") is None:
                    raise InvalidParameterValueException(
                        "StartingPositionTimestamp must be set when StartingPosition is AT_TIMESTAMP")
            age = final.get("MaximumRecordAgeInSeconds")
            if age is not None and age != -1 and not 60 <= age <= 604800:
                raise invalid_parameter("maximumRecordAgeInSeconds", age,
                                        "Member must have value greater than or equal to 60")
            if (p.get("DestinationConfig") or {}).get("OnSuccess", {}).get("Destination"):
                raise InvalidParameterValueException(
                    "Unsupported DestinationConfig parameter for given event source mapping type.")
        try:
            compile_filters(final.get("FilterCriteria"))
        except InvalidFilter:
            raise InvalidParameterValueException("Invalid filter pattern definition.") from None

    @staticmethod
    def _destination(config: dict[str, Any]) -> dict[str, Any]:
        target = (config.get("OnFailure") or {}).get("Destination")
        if target:
            parts = parse_resource_arn(target)
            if parts is None or parts["service"] not in _DESTINATION_SERVICES:
                raise InvalidParameterValueException(f"The destination ARN {target} is invalid.")
            return {"OnFailure": {"Destination": target}}
        return {"OnFailure": {}}

    def _notify(self, mapping_id: str) -> None:
        for listener in self.listeners:
            listener(mapping_id)


def _duplicate(kind: str, arn: str, function: str, existing: str) -> str:
    if kind == SQS:
        return (f'An event source mapping with SQS arn (" {arn} ") and function (" {function} ") '
                f"already exists. Please update or delete the existing mapping with UUID {existing}")
    return (f'The event source arn (" {arn} ") and function (" {function} ") provided mapping '
            f"already exists. Please update or delete the existing mapping with UUID {existing}")


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)

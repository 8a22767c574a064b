"""The end of an asynchronous event: destinations, dead-letter queue and counters.

`Destinations` implements `delivery.Outcomes`:

- `policy()` reads the event invoke config of the invoked qualifier
  (unqualified = `$LATEST`), with AWS's defaults (2 retries, 6 h).
- A success goes to `OnSuccess`, a failure to `OnFailure` and to the version's
  `DeadLetterConfig.TargetArn`, as AWS's invocation record
  (`version`, `timestamp`, `requestContext`, `requestPayload`, `responseContext`,
  `responsePayload`). A DLQ gets the original event only, with the message
  attributes `RequestID`, `ErrorCode` and `ErrorMessage`.
- Targets: another Lamina function (queued as an `Event` invocation), and SQS,
  SNS, EventBridge and S3 (failure only) on the AWS-compatible endpoint
  configured for that service (`Settings.endpoint_for`), through boto3 on
  threads of its own (so slow endpoints never hold up the event loop or the
  default executor that other parts use for disk work).

A destination that cannot be reached is counted (`DestinationDeliveryFailures`,
`DeadLetterErrors`) and logged; the event is not retried for it, as on AWS.
Counters are kept per function name for the metrics exporter.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lamina.arns import LATEST, FunctionRef, parse_resource_arn
from lamina.aws_clients import AwsClients
from lamina.control.eventinvoke import DEFAULT_MAX_AGE_S, DEFAULT_RETRIES, EventInvokeConfigs
from lamina.errors import LaminaError
from lamina.invoke.delivery import RetryPolicy
from lamina.invoke.queue import QueuedEvent
from lamina.invoke.service import Invoker, InvokeRequest, InvokeResponse
from lamina.settings import Settings

log = logging.getLogger("lamina.invoke.destinations")

SUCCESS_DETAIL = "Lambda Function Invocation Result - Success"
FAILURE_DETAIL = "Lambda Function Invocation Result - Failure"
DLQ_MESSAGE_LIMIT = 1024
SENDER_THREADS = 16


@dataclass
class AgeStats:
    """AsyncEventAge samples (ms between queueing and an attempt) since start."""

    count: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0

    def add(self, ms: float) -> None:
        self.count += 1
        self.total_ms += ms
        self.max_ms = max(self.max_ms, ms)


def _timestamp(at: dt.datetime | None = None) -> str:
    now = at or dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _json_or_text(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


class Destinations:
    """`Outcomes` for the async queue, backed by event invoke configs."""

    def __init__(self, settings: Settings, configs: EventInvokeConfigs, invoker: Invoker) -> None:
        self.settings = settings
        self.configs = configs
        self.invoker = invoker
        self.arns = configs.arns
        self.aws = AwsClients(settings, read_timeout=15)
        self._senders = ThreadPoolExecutor(SENDER_THREADS, thread_name_prefix="lamina-destinations")
        # Counters for the metrics issue, keyed by function name.
        self.async_events_received: Counter[str] = Counter()
        self.async_event_age: dict[str, AgeStats] = {}
        self.async_events_dropped: Counter[str] = Counter()
        self.dead_letter_errors: Counter[str] = Counter()
        self.destination_delivery_failures: Counter[str] = Counter()

    # -- Outcomes ---------------------------------------------------------------------------

    def policy(self, function: str, qualifier: str | None, version: str | None) -> RetryPolicy:
        doc = self.configs.find(function, qualifier)
        if doc is None:
            return RetryPolicy()
        dests = doc.get("DestinationConfig") or {}
        return RetryPolicy(
            max_retries=doc.get("MaximumRetryAttempts", DEFAULT_RETRIES),
            max_age_s=doc.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S),
            on_success=(dests.get("OnSuccess") or {}).get("Destination"),
            on_failure=(dests.get("OnFailure") or {}).get("Destination"))

    def received(self, function: str) -> None:
        """AsyncEventsReceived: called by the queue for every accepted event."""
        self.async_events_received[_name(function)] += 1
        self.invoker.metrics.record("AsyncEventsReceived", _name(function))

    def attempt(self, event: QueuedEvent, function: str) -> None:
        age_ms = max(0.0, (time.time() - event.enqueued_at) * 1000)
        self.async_event_age.setdefault(function, AgeStats()).add(age_ms)
        self.invoker.metrics.record("AsyncEventAge", function, age_ms)

    async def success(self, event: QueuedEvent, policy: RetryPolicy, resp: InvokeResponse) -> None:
        if policy.on_success:
            record = self.record(event, "Success", resp, None)
            await self._send(policy.on_success, record, event, success=True)

    async def failure(self, event: QueuedEvent, policy: RetryPolicy, condition: str,
                      resp: InvokeResponse | None, error: LaminaError | None) -> None:
        name = _name(event.function)
        self.async_events_dropped[name] += 1
        self.invoker.metrics.record("AsyncEventsDropped", name)
        log.info("async event %s for %s failed: %s", event.request_id, event.function, condition)
        if policy.on_failure:
            record = self.record(event, condition, resp, error)
            await self._send(policy.on_failure, record, event, success=False)
        target = self._dead_letter_target(event, resp)
        if target:
            await self._dead_letter(target, event, resp, error)

    # -- the invocation record --------------------------------------------------------------

    def record(self, event: QueuedEvent, condition: str, resp: InvokeResponse | None,
               error: LaminaError | None) -> dict[str, Any]:
        """AWS's invocation record for one finished event."""
        ref = FunctionRef.parse(event.function)
        qualifier = event.qualifier or ref.qualifier or LATEST
        last = event.meta.get("last") or {}
        if resp is not None:
            context: dict[str, Any] = {"statusCode": resp.status,
                                       "executedVersion": resp.executed_version}
            if resp.function_error:
                context["functionError"] = resp.function_error
        else:
            context = {"statusCode": error.status if error else last.get("statusCode", 429),
                       "executedVersion": last.get("executedVersion") or self._version_of(event)}
            if last.get("functionError") and error is None:
                context["functionError"] = last["functionError"]
        out: dict[str, Any] = {
            "version": "1.0",
            "timestamp": _timestamp(),
            "requestContext": {
                "requestId": event.request_id,
                "functionArn": self.arns.function(ref.name, qualifier),
                "condition": condition,
                "approximateInvokeCount": max(1, event.attempts),
            },
            "requestPayload": _json_or_text(event.payload),
            "responseContext": context,
        }
        if resp is not None:
            out["responsePayload"] = _json_or_text(resp.payload)
        return out

    def _version_of(self, event: QueuedEvent) -> str | None:
        try:
            target = self.invoker.target(event.function, event.qualifier)
        except LaminaError:
            return None
        return target.alias["FunctionVersion"] if target.alias else target.version

    # -- sending ----------------------------------------------------------------------------

    async def _blocking(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._senders, functools.partial(fn, *args, **kwargs))

    async def _send(self, destination: str, record: dict[str, Any], event: QueuedEvent,
                    success: bool) -> None:
        name = _name(event.function)
        try:
            await self._deliver(destination, record, success)
        except Exception as exc:
            self.destination_delivery_failures[name] += 1
            self.invoker.metrics.record("DestinationDeliveryFailures", name)
            log.warning("async event %s of %s: delivery to %s failed: %s",
                        event.request_id, name, destination, exc)

    async def _deliver(self, destination: str, record: dict[str, Any], success: bool) -> None:
        parts = parse_resource_arn(destination)
        if parts is None:
            raise ValueError(f"not an ARN: {destination}")
        body = json.dumps(record)
        service, region = parts["service"], parts["region"] or None
        if service == "lambda":
            await self.invoker.invoke(InvokeRequest(
                function_name=destination, invocation_type="Event", payload=body.encode()))
        elif service == "sqs":
            await self._blocking(self._sqs_send, destination, body, None)
        elif service == "sns":
            await self._blocking(self._sns_publish, destination, body, None)
        elif service == "events":
            await self._blocking(self._put_event, destination, region, record, body, success)
        elif service == "s3" and not success:
            await self._blocking(self._put_object, parts["resource"], region, record, body)
        else:
            raise ValueError(f"unsupported destination {destination}")

    def _sqs_send(self, arn: str, body: str, attributes: dict[str, Any] | None) -> None:
        parts = parse_resource_arn(arn) or {}
        kwargs: dict[str, Any] = {"QueueUrl": self.aws.queue_url(arn), "MessageBody": body}
        if attributes:
            kwargs["MessageAttributes"] = attributes
        self.aws.get("sqs", parts.get("region") or None).send_message(**kwargs)

    def _sns_publish(self, arn: str, body: str, attributes: dict[str, Any] | None) -> None:
        parts = parse_resource_arn(arn) or {}
        kwargs: dict[str, Any] = {"TopicArn": arn, "Message": body}
        if attributes:
            kwargs["MessageAttributes"] = attributes
        self.aws.get("sns", parts.get("region") or None).publish(**kwargs)

    def _put_event(self, bus: str, region: str | None, record: dict[str, Any], body: str,
                   success: bool) -> None:
        function_arn = record["requestContext"]["functionArn"]
        answer = self.aws.get("events", region).put_events(Entries=[{
            "Source": "lambda",
            "DetailType": SUCCESS_DETAIL if success else FAILURE_DETAIL,
            "Detail": body,
            "Resources": [function_arn, bus],
            "EventBusName": bus,
        }])
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents failed: {answer.get('Entries')}")

    def _put_object(self, resource: str, region: str | None, record: dict[str, Any],
                    body: str) -> None:
        bucket = resource.split("/", 1)[0]
        name = FunctionRef.parse(record["requestContext"]["functionArn"]).name
        now = dt.datetime.now(dt.UTC)
        key = (f"aws/lambda/async/{name}/{now:%Y/%m/%d}/{now:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}")
        self.aws.get("s3", region).put_object(Bucket=bucket, Key=key, Body=body.encode(),
                                              ContentType="application/json")

    # -- dead-letter queue ------------------------------------------------------------------

    def _dead_letter_target(self, event: QueuedEvent, resp: InvokeResponse | None) -> str | None:
        """The DeadLetterConfig of the version that ran (or would have run) the event."""
        try:
            target = self.invoker.target(event.function, event.qualifier)
        except LaminaError:
            return None
        version = (resp.executed_version if resp is not None and resp.executed_version
                   else target.alias["FunctionVersion"] if target.alias else target.version)
        config = self.invoker.functions.resolve.version(target.name, version) or {}
        return (config.get("DeadLetterConfig") or {}).get("TargetArn") or None

    async def _dead_letter(self, target: str, event: QueuedEvent, resp: InvokeResponse | None,
                           error: LaminaError | None) -> None:
        code, message = _error_of(event, resp, error)
        attributes = {
            "RequestID": {"DataType": "String", "StringValue": event.request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": str(code)},
            "ErrorMessage": {"DataType": "String", "StringValue": message or "Unknown error"},
        }
        body = event.payload.decode("utf-8", "replace")
        parts = parse_resource_arn(target) or {}
        try:
            if parts.get("service") == "sqs":
                await self._blocking(self._sqs_send, target, body, attributes)
            elif parts.get("service") == "sns":
                await self._blocking(self._sns_publish, target, body, attributes)
            else:
                raise ValueError(f"unsupported dead-letter target {target}")
        except Exception as exc:
            self.dead_letter_errors[_name(event.function)] += 1
            self.invoker.metrics.record("DeadLetterErrors", _name(event.function))
            log.warning("async event %s: dead-letter send to %s failed: %s",
                        event.request_id, target, exc)


def _name(function: str) -> str:
    try:
        return FunctionRef.parse(function).name
    except ValueError:
        return function


def _error_of(event: QueuedEvent, resp: InvokeResponse | None,
              error: LaminaError | None) -> tuple[int, str]:
    """ErrorCode (the HTTP status) and ErrorMessage (first 1 KB) for a DLQ message."""
    if resp is not None:
        detail = _json_or_text(resp.payload)
        message = detail.get("errorMessage") if isinstance(detail, dict) else None
        text = str(message if message is not None else detail or resp.function_error or "")
        return resp.status, text[:DLQ_MESSAGE_LIMIT]
    if error is not None:
        return error.status, error.message[:DLQ_MESSAGE_LIMIT]
    last = event.meta.get("last") or {}
    return int(last.get("statusCode", 429)), "Event age exceeded"[:DLQ_MESSAGE_LIMIT]

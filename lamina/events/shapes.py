"""Event JSON builders: what a function receives from each event source (spec §7).

Each builder takes what boto3 returned for one message or record and gives the
record exactly as AWS delivers it. `*_filter_view` gives the view that
FilterCriteria patterns are matched against (AWS parses JSON bodies/data first).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any


def epoch(value: Any) -> float:
    """boto3 returns timestamps as datetimes; events carry epoch seconds."""
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value or 0)


def iso_ms(at: float) -> str:
    moment = dt.datetime.fromtimestamp(at, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


# -- SQS ------------------------------------------------------------------------------------

def _sqs_attribute(value: dict[str, Any]) -> dict[str, Any]:
    def b64(items: Any) -> Any:
        return base64.b64encode(items).decode() if isinstance(items, bytes) else items
    out: dict[str, Any] = {}
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = b64(value["BinaryValue"])
    out["stringListValues"] = list(value.get("StringListValues") or [])
    out["binaryListValues"] = [b64(v) for v in value.get("BinaryListValues") or []]
    out["dataType"] = value.get("DataType", "String")
    return out


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attributes = dict(message.get("Attributes") or {})
    # The attributes AWS passes on (standard; FIFO adds the three below).
    wanted = ("ApproximateReceiveCount", "SentTimestamp", "SenderId",
              "ApproximateFirstReceiveTimestamp", "SequenceNumber", "MessageGroupId",
              "MessageDeduplicationId", "AWSTraceHeader", "DeadLetterQueueSourceArn")
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {k: str(attributes[k]) for k in wanted if k in attributes},
        "messageAttributes": {name: _sqs_attribute(v)
                              for name, v in (message.get("MessageAttributes") or {}).items()},
        "md5OfBody": message.get("MD5OfBody", ""),
        **({"md5OfMessageAttributes": message["MD5OfMessageAttributes"]}
           if message.get("MD5OfMessageAttributes") else {}),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def sqs_filter_view(record: dict[str, Any]) -> dict[str, Any]:
    view = dict(record)
    parsed = _json_or_none(record["body"])
    if isinstance(parsed, dict):
        view["body"] = parsed
    return view


# -- Kinesis ----------------------------------------------------------------------------------

def kinesis_record(record: dict[str, Any], shard_id: str, stream_arn: str, region: str,
                   role: str | None) -> dict[str, Any]:
    data = record.get("Data", b"")
    if isinstance(data, str):
        data = data.encode()
    inner: dict[str, Any] = {
        "kinesisSchemaVersion": "1.0",
        "partitionKey": record["PartitionKey"],
        "sequenceNumber": record["SequenceNumber"],
        "data": base64.b64encode(data).decode(),
        "approximateArrivalTimestamp": epoch(record.get("ApproximateArrivalTimestamp")),
    }
    return {
        "kinesis": inner,
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{record['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": role or "",
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def kinesis_filter_view(event_record: dict[str, Any]) -> dict[str, Any]:
    """Kinesis patterns address the `kinesis` member with `data` decoded if it is JSON."""
    inner = dict(event_record["kinesis"])
    try:
        parsed = json.loads(base64.b64decode(inner["data"]))
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        inner["data"] = parsed
    return {**event_record, **inner}


# -- DynamoDB Streams -------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """Attribute values as JSON: binary (B, BS) is base64 text."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return value


def dynamodb_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    change = _plain(record.get("dynamodb") or {})
    if "ApproximateCreationDateTime" in change:
        change["ApproximateCreationDateTime"] = int(change["ApproximateCreationDateTime"])
    out = {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion") or region,
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }
    if record.get("userIdentity"):
        out["userIdentity"] = record["userIdentity"]
    return out

"""Event source mapping API: shapes, defaults, states and errors (no event source needed)."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

REGION, ACCOUNT = "us-east-1", "000000000000"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:esm-api-queue"
FIFO = f"arn:aws:sqs:{REGION}:{ACCOUNT}:esm-api-queue.fifo"
STREAM = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/esm-api-stream"
TABLE_STREAM = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/stream/2024-01-01T00:00:00.000"
HANDLER = {"handler.py": "def handler(event, context):\n    return None\n"}


def error_of(call) -> tuple[str, int, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


@pytest.fixture
def function(create_function) -> str:  # type: ignore[no-untyped-def]
    name = f"esm-api-{uuid.uuid4().hex[:8]}"
    create_function(name, HANDLER)
    return name


@pytest.fixture
def mappings(lambda_client):  # type: ignore[no-untyped-def]
    made: list[str] = []
    yield made
    for mapping_id in made:
        try:
            lambda_client.delete_event_source_mapping(UUID=mapping_id)
        except ClientError:
            pass


def test_sqs_mapping_lifecycle(lambda_client, function, mappings) -> None:  # type: ignore[no-untyped-def]
    created = lambda_client.create_event_source_mapping(
        FunctionName=function, EventSourceArn=QUEUE, Enabled=False,
        FilterCriteria={"Filters": [{"Pattern": '{"body": {"kind": ["a"]}}'}]})
    mappings.append(created["UUID"])
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert created["State"] == "Creating"
    assert created["BatchSize"] == 10 and created["MaximumBatchingWindowInSeconds"] == 0
    assert created["StateTransitionReason"] == "USER_INITIATED"
    assert created["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
    assert created["EventSourceMappingArn"] == (
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{created['UUID']}")
    assert created["FunctionResponseTypes"] == []
    assert "StartingPosition" not in created and "DestinationConfig" not in created

    got = lambda_client.get_event_source_mapping(UUID=created["UUID"])
    assert got["State"] == "Disabled"
    assert got["LastModified"].timestamp() > 0

    updated = lambda_client.update_event_source_mapping(
        UUID=created["UUID"], Enabled=True, BatchSize=50, MaximumBatchingWindowInSeconds=2,
        FunctionResponseTypes=["ReportBatchItemFailures"])
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert updated["State"] == "Enabling"
    got = lambda_client.get_event_source_mapping(UUID=created["UUID"])
    assert (got["State"], got["BatchSize"], got["FunctionResponseTypes"]) == (
        "Enabled", 50, ["ReportBatchItemFailures"])

    listed = lambda_client.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [created["UUID"]]
    by_source = lambda_client.list_event_source_mappings(EventSourceArn=QUEUE)
    assert created["UUID"] in [m["UUID"] for m in by_source["EventSourceMappings"]]

    code, status, message = error_of(lambda: lambda_client.create_event_source_mapping(
        FunctionName=function, EventSourceArn=QUEUE))
    assert (code, status) == ("ResourceConflictException", 409)
    assert message == (f'An event source mapping with SQS arn (" {QUEUE} ") and function '
                       f'(" {function} ") already exists. Please update or delete the existing '
                       f"mapping with UUID {created['UUID']}")

    deleted = lambda_client.delete_event_source_mapping(UUID=created["UUID"])
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert deleted["State"] == "Deleting"
    code, status, message = error_of(
        lambda: lambda_client.get_event_source_mapping(UUID=created["UUID"]))
    assert (code, status, message) == ("ResourceNotFoundException", 404,
                                       "The resource you requested does not exist.")


def test_stream_defaults(lambda_client, function, mappings) -> None:  # type: ignore[no-untyped-def]
    created = lambda_client.create_event_source_mapping(
        FunctionName=f"{function}:$LATEST", EventSourceArn=STREAM, StartingPosition="TRIM_HORIZON",
        Enabled=False, DestinationConfig={"OnFailure": {
            "Destination": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"}})
    mappings.append(created["UUID"])
    assert created["FunctionArn"].endswith(f":function:{function}:$LATEST")
    for key, value in {"BatchSize": 100, "ParallelizationFactor": 1, "MaximumRetryAttempts": -1,
                       "MaximumRecordAgeInSeconds": -1, "BisectBatchOnFunctionError": False,
                       "TumblingWindowInSeconds": 0, "StartingPosition": "TRIM_HORIZON",
                       "LastProcessingResult": "No records processed"}.items():
        assert created[key] == value, key
    assert created["DestinationConfig"] == {
        "OnFailure": {"Destination": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"}}

    ddb = lambda_client.create_event_source_mapping(
        FunctionName=function, EventSourceArn=TABLE_STREAM, StartingPosition="LATEST",
        Enabled=False)
    mappings.append(ddb["UUID"])
    assert ddb["DestinationConfig"] == {"OnFailure": {}}
    got = lambda_client.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    assert {m["UUID"] for m in got} == {created["UUID"], ddb["UUID"]}
    page = lambda_client.list_event_source_mappings(FunctionName=function, MaxItems=1)
    assert len(page["EventSourceMappings"]) == 1 and page["NextMarker"]


@pytest.mark.parametrize("kwargs, message", [
    ({"EventSourceArn": STREAM},
     ("1 validation error detected: Value null at 'startingPosition' failed to satisfy "
     "constraint: Member must not be null.")),
    ({"EventSourceArn": TABLE_STREAM, "StartingPosition": "AT_TIMESTAMP",
      "StartingPositionTimestamp": 1},
     f"Unsupported starting position for arn type: {TABLE_STREAM}"),
    ({"EventSourceArn": QUEUE, "DestinationConfig": {"OnFailure": {"Destination": QUEUE}}},
     "Unsupported DestinationConfig parameter for given event source mapping type."),
    ({"EventSourceArn": QUEUE, "BatchSize": 11},
     ("Maximum batch window in seconds must be greater than 0 if maximum batch size is greater "
     "than 10")),
    ({"EventSourceArn": FIFO, "BatchSize": 20, "MaximumBatchingWindowInSeconds": 1},
     "Batch size must not exceed 10 for FIFO queues"),
    ({"EventSourceArn": QUEUE, "FilterCriteria": {"Filters": [{"Pattern": "{not json"}]}},
     "Invalid filter pattern definition."),
    ({"EventSourceArn": "arn:aws:s3:::bucket"}, "Unrecognized event source."),
])
def test_create_errors(lambda_client, function, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    code, status, got = error_of(
        lambda: lambda_client.create_event_source_mapping(FunctionName=function, **kwargs))
    assert (code, status, got) == ("InvalidParameterValueException", 400, message)


def test_missing_function_and_unknown_uuid(lambda_client) -> None:  # type: ignore[no-untyped-def]
    code, status, message = error_of(lambda: lambda_client.create_event_source_mapping(
        FunctionName="esm-api-nope", EventSourceArn=QUEUE))
    assert (code, status, message) == ("InvalidParameterValueException", 400,
                                       "Function does not exist")
    for call in (lambda: lambda_client.update_event_source_mapping(UUID=str(uuid.uuid4()),
                                                                   BatchSize=5),
                 lambda: lambda_client.delete_event_source_mapping(UUID=str(uuid.uuid4()))):
        assert error_of(call)[:2] == ("ResourceNotFoundException", 404)


def test_tags_on_mapping_arn(lambda_client, function, mappings) -> None:  # type: ignore[no-untyped-def]
    created = lambda_client.create_event_source_mapping(
        FunctionName=function, EventSourceArn=f"{QUEUE}-tags", Enabled=False, Tags={"team": "a"})
    mappings.append(created["UUID"])
    arn = created["EventSourceMappingArn"]
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "a"}
    lambda_client.tag_resource(Resource=arn, Tags={"env": "test"})
    lambda_client.untag_resource(Resource=arn, TagKeys=["team"])
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"env": "test"}
    missing = arn.rsplit(":", 1)[0] + ":" + str(uuid.uuid4())
    assert error_of(lambda: lambda_client.list_tags(Resource=missing))[:2] == (
        "ResourceNotFoundException", 404)


@pytest.mark.parametrize("pattern, record, expected", [
    ({"body": {"kind": ["a", "b"]}}, {"body": {"kind": "b"}}, True),
    ({"body": {"kind": ["a"]}}, {"body": {"kind": "c"}}, False),
    ({"body": {"n": [{"numeric": [">", 1, "<=", 5]}]}}, {"body": {"n": 5}}, True),
    ({"body": {"n": [{"numeric": [">", 1]}]}}, {"body": {"n": "7"}}, False),
    ({"eventName": [{"anything-but": ["REMOVE"]}]}, {"eventName": "INSERT"}, True),
    ({"k": [{"prefix": "ke"}]}, {"k": "keep"}, True),
    ({"k": [{"suffix": ".png"}]}, {"k": "a.jpg"}, False),
    ({"k": [{"exists": False}]}, {"other": 1}, True),
    ({"k": [{"exists": True}]}, {"other": 1}, False),
    ({"k": [{"equals-ignore-case": "ABC"}]}, {"k": "abc"}, True),
    ({"k": [{"wildcard": "a*c"}]}, {"k": "abbbc"}, True),
    ({"tags": ["x"]}, {"tags": ["y", "x"]}, True),
    ({"$or": [{"a": [1]}, {"b": [2]}]}, {"b": 2}, True),
    ({"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": "10.1.2.3"}, True),
    ({"v": [None]}, {"v": None}, True),
])
def test_filter_patterns(pattern, record, expected) -> None:  # type: ignore[no-untyped-def]
    import json

    from lamina.events.filters import compile_filters, matches_any

    patterns = compile_filters({"Filters": [{"Pattern": json.dumps(pattern)}]})
    assert matches_any(patterns, record) is expected

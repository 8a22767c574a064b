"""Asynchronous invocation end to end: retries, destinations and the DLQ on moto_server.

A real Lamina server (retry delays shrunk to 1 s and 2 s) sends invocation
records to SQS, SNS and EventBridge served by a moto_server that this module
starts on a free loopback port.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ROLE, Server, make_zip
from tests.moto_server import MotoServer

pytestmark = pytest.mark.timeout(120)

# Functions report each attempt to an SQS queue on moto through its query API
# (plain urllib: no SDK needed inside the sandbox; moto only looks at the
# Authorization header to pick the service).
NOTE = """import os, urllib.parse, urllib.request
def note(text):
    url = os.environ.get("ATTEMPTS_URL")
    if not url:
        return
    data = urllib.parse.urlencode({"Action": "SendMessage", "MessageBody": text,
                                   "Version": "2012-11-05"}).encode()
    auth = ("AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/sqs/aws4_request, "
            "SignedHeaders=host, Signature=0")
    req = urllib.request.Request(url, data=data, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Authorization": auth})
    urllib.request.urlopen(req, timeout=5).read()
"""
FAILING = NOTE + """
def handler(event, context):
    note("attempt " + context.aws_request_id)
    raise ValueError("boom: " + str(event.get("n")))
"""
ECHO = NOTE + """
def handler(event, context):
    note("attempt " + context.aws_request_id)
    return {"echo": event}
"""
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


class Moto(MotoServer):
    """moto_server with the SQS helpers these tests use."""

    def queue(self, name: str) -> tuple[str, str]:
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def receive(self, url: str, timeout: float = 30.0, **kwargs: Any) -> dict[str, Any]:
        sqs = self.client("sqs")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, **kwargs).get("Messages")
            if messages:
                return messages[0]
        raise AssertionError(f"nothing arrived on {url} within {timeout} s")

    def drain(self, url: str) -> list[str]:
        """Every message body now in the queue (deleted as read), in arrival order."""
        sqs = self.client("sqs")
        bodies: list[tuple[str, str]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                           AttributeNames=["SentTimestamp"]).get("Messages", [])
            if not messages:
                return [body for _, body in sorted(bodies)]
            for m in messages:
                bodies.append((m["Attributes"]["SentTimestamp"], m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    m = Moto(tmp_path_factory.mktemp("moto") / "moto.log")
    yield m
    m.stop()


@pytest.fixture(scope="module")
def lamina(tmp_path_factory: pytest.TempPathFactory, moto: Moto) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("lamina-async") / "data",
                 "--aws-endpoint-url", moto.endpoint,
                 env={"LAMINA_ASYNC_RETRY_DELAYS": "1,2"}).start()
    yield srv
    srv.stop()


@pytest.fixture
def fn(lamina: Server) -> Iterator[Any]:
    client = lamina.client()
    created: list[str] = []

    def create(name: str, source: str, **kwargs: Any) -> str:
        arn = client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                                     Handler="handler.handler",
                                     Code={"ZipFile": make_zip({"handler.py": source})},
                                     **kwargs)["FunctionArn"]
        created.append(name)
        client.get_waiter("function_active_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        return str(arn)

    yield create
    for name in created:
        client.delete_function(FunctionName=name)


def invoke_event(client: Any, name: str, payload: dict[str, Any]) -> str:
    resp = client.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(payload))
    assert resp["StatusCode"] == 202
    return str(resp["ResponseMetadata"]["RequestId"])


def test_failure_record_reaches_sqs_after_the_configured_retries(lamina: Server, moto: Moto,
                                                                  fn: Any) -> None:
    client = lamina.client()
    url, arn = moto.queue("on-failure")
    attempts_url, _ = moto.queue("attempts-fails")
    fn_arn = fn("async-fails", FAILING, Environment={"Variables": {"ATTEMPTS_URL": attempts_url}})
    client.put_function_event_invoke_config(FunctionName="async-fails",
                                            DestinationConfig={"OnFailure": {"Destination": arn}})
    started = time.monotonic()
    request_id = invoke_event(client, "async-fails", {"n": 7})
    record = json.loads(moto.receive(url)["Body"])
    elapsed = time.monotonic() - started

    assert elapsed >= 3.0, "two retries, 1 s then 2 s apart"
    assert set(record) == {"version", "timestamp", "requestContext", "requestPayload",
                           "responseContext", "responsePayload"}
    assert record["version"] == "1.0"
    assert TIMESTAMP.fullmatch(record["timestamp"])
    assert record["requestContext"] == {"requestId": request_id,
                                        "functionArn": f"{fn_arn}:$LATEST",
                                        "condition": "RetriesExhausted",
                                        "approximateInvokeCount": 3}
    assert record["requestPayload"] == {"n": 7}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                         "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "boom: 7"
    # The function ran exactly three times, always with the same request id.
    assert moto.drain(attempts_url) == [f"attempt {request_id}"] * 3


def test_success_record_and_max_retry_attempts_zero(lamina: Server, moto: Moto, fn: Any) -> None:
    client = lamina.client()
    ok_url, ok_arn = moto.queue("on-success")
    fail_url, fail_arn = moto.queue("on-failure-zero")
    fn("async-echo", ECHO)
    client.put_function_event_invoke_config(
        FunctionName="async-echo", MaximumRetryAttempts=0,
        DestinationConfig={"OnSuccess": {"Destination": ok_arn},
                           "OnFailure": {"Destination": fail_arn}})
    request_id = invoke_event(client, "async-echo", {"hello": "world"})
    record = json.loads(moto.receive(ok_url)["Body"])
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"echo": {"hello": "world"}}

    fn("async-once", FAILING)
    client.put_function_event_invoke_config(
        FunctionName="async-once", MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": fail_arn}})
    started = time.monotonic()
    invoke_event(client, "async-once", {"n": 1})
    record = json.loads(moto.receive(fail_url)["Body"])
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert time.monotonic() - started < 3.0, "no retries with MaximumRetryAttempts=0"


def test_dead_letter_queue_gets_the_event_with_error_attributes(lamina: Server, moto: Moto,
                                                                fn: Any) -> None:
    client = lamina.client()
    url, arn = moto.queue("dlq")
    fn("async-dlq", FAILING, DeadLetterConfig={"TargetArn": arn})
    client.put_function_event_invoke_config(FunctionName="async-dlq", MaximumRetryAttempts=0)
    request_id = invoke_event(client, "async-dlq", {"n": 3})
    message = moto.receive(url, MessageAttributeNames=["All"])
    assert json.loads(message["Body"]) == {"n": 3}
    assert message["MessageAttributes"] == {
        "RequestID": {"DataType": "String", "StringValue": request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": "boom: 3"},
    }


def test_reserved_concurrency_zero_goes_straight_to_the_failure_path(lamina: Server, moto: Moto,
                                                                     fn: Any) -> None:
    client = lamina.client()
    url, arn = moto.queue("throttled")
    dlq_url, dlq_arn = moto.queue("throttled-dlq")
    attempts_url, _ = moto.queue("attempts-off")
    fn("async-off", ECHO, DeadLetterConfig={"TargetArn": dlq_arn},
       Environment={"Variables": {"ATTEMPTS_URL": attempts_url}})
    client.put_function_concurrency(FunctionName="async-off", ReservedConcurrentExecutions=0)
    client.put_function_event_invoke_config(FunctionName="async-off",
                                            DestinationConfig={"OnFailure": {"Destination": arn}})
    started = time.monotonic()
    request_id = invoke_event(client, "async-off", {"n": 0})
    record = json.loads(moto.receive(url)["Body"])
    assert time.monotonic() - started < 2.0, "no retries, no backoff"
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestPayload"] == {"n": 0}
    assert record["responseContext"]["statusCode"] == 429
    assert "responsePayload" not in record
    message = moto.receive(dlq_url, MessageAttributeNames=["All"])
    assert message["MessageAttributes"]["ErrorCode"]["StringValue"] == "429"
    # The function never ran.
    assert moto.drain(attempts_url) == []


def test_sns_eventbridge_and_function_destinations(lamina: Server, moto: Moto, fn: Any) -> None:
    client = lamina.client()
    sns, events = moto.client("sns"), moto.client("events")
    topic_url, topic_q = moto.queue("from-sns")
    topic = sns.create_topic(Name="results")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=topic_q,
                  Attributes={"RawMessageDelivery": "true"})
    bus_url, bus_q = moto.queue("from-events")
    bus = events.create_event_bus(Name="results")["EventBusArn"]
    events.put_rule(Name="lambda-results", EventBusName="results",
                    EventPattern=json.dumps({"source": ["lambda"]}))
    events.put_targets(Rule="lambda-results", EventBusName="results",
                       Targets=[{"Id": "q", "Arn": bus_q}])

    fn_arn = fn("async-sns", ECHO)
    client.put_function_event_invoke_config(FunctionName="async-sns",
                                            DestinationConfig={"OnSuccess": {"Destination": topic}})
    invoke_event(client, "async-sns", {"via": "sns"})
    record = json.loads(moto.receive(topic_url)["Body"])
    assert record["requestPayload"] == {"via": "sns"}
    assert record["requestContext"]["condition"] == "Success"

    fn("async-bus", FAILING)
    client.put_function_event_invoke_config(FunctionName="async-bus", MaximumRetryAttempts=0,
                                            DestinationConfig={"OnFailure": {"Destination": bus}})
    invoke_event(client, "async-bus", {"n": 5})
    envelope = json.loads(moto.receive(bus_url)["Body"])
    assert envelope["source"] == "lambda"
    assert envelope["detail-type"] == "Lambda Function Invocation Result - Failure"
    assert envelope["resources"] == [fn_arn.replace("async-sns", "async-bus") + ":$LATEST", bus]
    assert envelope["detail"]["requestPayload"] == {"n": 5}
    assert envelope["detail"]["requestContext"]["condition"] == "RetriesExhausted"

    # Another Lamina function as the destination receives the record as its event.
    final_url, final_arn = moto.queue("from-function")
    fn("async-relay", ECHO)
    client.put_function_event_invoke_config(FunctionName="async-relay",
                                            DestinationConfig={"OnSuccess": {"Destination": final_arn}})
    fn("async-first", ECHO)
    relay_arn = client.get_function(FunctionName="async-relay")["Configuration"]["FunctionArn"]
    client.put_function_event_invoke_config(FunctionName="async-first",
                                            DestinationConfig={"OnSuccess": {"Destination": relay_arn}})
    invoke_event(client, "async-first", {"hop": 1})
    relayed = json.loads(moto.receive(final_url)["Body"])
    # The relay's own record: its request payload is the first function's record.
    inner = relayed["requestPayload"]
    assert inner["requestContext"]["functionArn"].endswith(":function:async-first:$LATEST")
    assert inner["responsePayload"] == {"echo": {"hop": 1}}
    assert relayed["responsePayload"] == {"echo": inner}


def test_s3_failure_destination(lamina: Server, moto: Moto, fn: Any) -> None:
    client = lamina.client()
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="async-failures")
    fn("async-s3", FAILING)
    client.put_function_event_invoke_config(
        FunctionName="async-s3", MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": "arn:aws:s3:::async-failures"}})
    request_id = invoke_event(client, "async-s3", {"n": 9})
    deadline = time.monotonic() + 30
    keys: list[str] = []
    while not keys and time.monotonic() < deadline:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="async-failures").get("Contents", [])]
        time.sleep(0.2)
    assert len(keys) == 1
    assert re.fullmatch(r"aws/lambda/async/async-s3/\d{4}/\d\d/\d\d/"
                        r"\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d-[0-9a-f-]{36}", keys[0])
    record = json.loads(s3.get_object(Bucket="async-failures", Key=keys[0])["Body"].read())
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"n": 9}

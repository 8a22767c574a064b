"""Event source mappings end to end: SQS, Kinesis and DynamoDB Streams on moto_server.

This module starts a moto_server on a free loopback port and a Lamina server with
`--aws-endpoint-url` pointing at it. One Python function serves every mapping: it
POSTs each event it receives to a collector HTTP server run by the test (the
sandbox shares the host's network), then answers as the scenario needs.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import ROLE, Server, make_zip
from tests.moto_server import MotoServer

pytestmark = pytest.mark.timeout(120)

HANDLER = """import base64, json, os, urllib.request

def handler(event, context):
    req = urllib.request.Request(os.environ["COLLECTOR"], data=json.dumps(event).encode(),
                                 method="POST")
    urllib.request.urlopen(req, timeout=5).read()
    records = event.get("Records") or []
    source = records[0].get("eventSource") if records else None
    if source == "aws:sqs":
        failures = []
        for r in records:
            first = r["attributes"]["ApproximateReceiveCount"] == "1"
            if r["body"].startswith("raise") and first:
                raise RuntimeError("whole batch fails once")
            if r["body"].startswith("fail") and first:
                failures.append({"itemIdentifier": r["messageId"]})
        return {"batchItemFailures": failures}
    if source == "aws:kinesis":
        for r in records:
            if base64.b64decode(r["kinesis"]["data"]) == b"poison":
                raise RuntimeError("poison record")
    return None
"""


class Collector:
    """Records every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.events.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def records(self, source: str, arn: str | None) -> list[dict[str, Any]]:
        with self.lock:
            return [r for e in self.events for r in e.get("Records") or []
                    if r.get("eventSource") == source and r.get("eventSourceARN") == arn]

    def wait(self, until: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until():
                return
            time.sleep(0.2)
        raise AssertionError(f"condition not met within {timeout} s; events: {self.events}")


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    m = MotoServer(tmp_path_factory.mktemp("moto-esm") / "moto.log")
    yield m
    m.stop()


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.httpd.shutdown()
    c.httpd.server_close()


@pytest.fixture(scope="module")
def lamina(tmp_path_factory: pytest.TempPathFactory, moto: MotoServer) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("lamina-esm") / "data",
                 "--aws-endpoint-url", moto.endpoint).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def function(lamina: Server, collector: Collector) -> str:
    client = lamina.client()
    client.create_function(FunctionName="esm-e2e", Runtime="python3.12", Role=ROLE,
                           Handler="handler.handler", Timeout=10,
                           Code={"ZipFile": make_zip({"handler.py": HANDLER})},
                           Environment={"Variables": {"COLLECTOR": collector.url}})
    client.get_waiter("function_active_v2").wait(
        FunctionName="esm-e2e", WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    return "esm-e2e"


def test_sqs(moto: MotoServer, lamina: Server, collector: Collector, function: str) -> None:
    sqs = moto.client("sqs")
    url = sqs.create_queue(QueueName="esm-e2e", Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = lamina.client().create_event_source_mapping(
        FunctionName=function, EventSourceArn=arn, BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"])
    bodies = ["ok-1", "ok-2", "fail-1", "raise-1"]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body,
                         MessageAttributes={"colour": {"DataType": "String", "StringValue": "red"}})

    def succeeded() -> set[str]:
        # A body counts once it was delivered on a receive that does not fail it.
        done = set()
        for r in collector.records("aws:sqs", arn):
            again = r["attributes"]["ApproximateReceiveCount"] != "1"
            if r["body"].startswith("ok") or again:
                done.add(r["body"])
        return done

    collector.wait(lambda: succeeded() >= set(bodies), timeout=40)
    seen = collector.records("aws:sqs", arn)
    # The failed item and the thrown batch came back after the visibility timeout.
    counts = {b: sum(1 for r in seen if r["body"] == b) for b in bodies}
    assert counts["fail-1"] >= 2 and counts["raise-1"] >= 2, counts
    record = seen[0]
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert set(record) >= {"messageId", "receiptHandle", "body", "attributes",
                           "messageAttributes", "md5OfBody"}
    assert record["messageAttributes"]["colour"]["stringValue"] == "red"
    assert {"SentTimestamp", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])

    def queue_empty() -> bool:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return attrs["ApproximateNumberOfMessages"] == "0" and \
            attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
    collector.wait(queue_empty, timeout=15)

    # Disabled: messages stay in the queue.
    lamina.client().update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    time.sleep(0.5)
    sqs.send_message(QueueUrl=url, MessageBody="while-disabled")
    time.sleep(2)
    assert not any(r["body"] == "while-disabled" for r in collector.records("aws:sqs", arn))
    lamina.client().delete_event_source_mapping(UUID=mapping["UUID"])


def test_kinesis(moto: MotoServer, lamina: Server, collector: Collector, function: str) -> None:
    kinesis = moto.client("kinesis")
    kinesis.create_stream(StreamName="esm-e2e", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="esm-e2e")["StreamDescription"]["StreamARN"]
    sqs = moto.client("sqs")
    dlq = sqs.create_queue(QueueName="esm-e2e-kinesis-failures")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    payloads = [f"record-{i}".encode() for i in range(5)]
    for data in payloads[:2]:                      # before the mapping: TRIM_HORIZON sees them
        kinesis.put_record(StreamName="esm-e2e", Data=data, PartitionKey="k")
    mapping = lamina.client().create_event_source_mapping(
        FunctionName=function, EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
        BatchSize=3, MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": dlq_arn}})
    for data in payloads[2:] + [b"poison", b"after-poison"]:
        kinesis.put_record(StreamName="esm-e2e", Data=data, PartitionKey="k")

    def data() -> list[bytes]:
        return [base64.b64decode(r["kinesis"]["data"]) for r in collector.records("aws:kinesis", arn)]
    collector.wait(lambda: b"after-poison" in data(), timeout=40)
    first_seen = list(dict.fromkeys(d for d in data() if d != b"poison"))
    assert first_seen == payloads + [b"after-poison"]   # in order
    assert data().count(b"poison") == 2                  # first try + one retry
    record = collector.records("aws:kinesis", arn)[0]
    assert record["eventName"] == "aws:kinesis:record" and record["kinesis"]["partitionKey"] == "k"
    assert record["eventID"].startswith("shardId-") and record["invokeIdentityArn"] == ROLE

    messages = []
    deadline = time.monotonic() + 15
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])
    assert messages, "no on-failure record"
    failure = json.loads(messages[0]["Body"])
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 2
    assert failure["responseContext"]["functionError"] == "Unhandled"
    info = failure["KinesisBatchInfo"]
    assert info["batchSize"] >= 1 and info["streamArn"] == arn
    lamina.client().delete_event_source_mapping(UUID=mapping["UUID"])


def test_dynamodb_streams(moto: MotoServer, lamina: Server, collector: Collector, function: str) -> None:
    ddb = moto.client("dynamodb")
    table = ddb.create_table(
        TableName="esm-e2e", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    arn = table["TableDescription"]["LatestStreamArn"]
    # LATEST: what was written before the mapping is not delivered.
    ddb.put_item(TableName="esm-e2e", Item={"id": {"S": "keep-0"}, "n": {"N": "0"}})
    time.sleep(1.1)
    mapping = lamina.client().create_event_source_mapping(
        FunctionName=function, EventSourceArn=arn, StartingPosition="LATEST",
        FilterCriteria={"Filters": [{"Pattern": json.dumps(
            {"dynamodb": {"Keys": {"id": {"S": [{"prefix": "keep"}]}}}})}]})
    ddb.put_item(TableName="esm-e2e", Item={"id": {"S": "keep-1"}, "n": {"N": "1"}})
    ddb.update_item(TableName="esm-e2e", Key={"id": {"S": "keep-1"}},
                    UpdateExpression="SET n = :n", ExpressionAttributeValues={":n": {"N": "2"}})
    ddb.put_item(TableName="esm-e2e", Item={"id": {"S": "skip-me"}, "n": {"N": "0"}})
    ddb.delete_item(TableName="esm-e2e", Key={"id": {"S": "keep-1"}})

    collector.wait(lambda: len(collector.records("aws:dynamodb", arn)) >= 3, timeout=30)
    time.sleep(0.5)
    records = collector.records("aws:dynamodb", arn)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    insert, modify, remove = records
    assert insert["dynamodb"]["Keys"] == {"id": {"S": "keep-1"}}
    assert insert["dynamodb"]["NewImage"]["n"] == {"N": "1"}
    assert modify["dynamodb"]["OldImage"]["n"] == {"N": "1"}
    assert modify["dynamodb"]["NewImage"]["n"] == {"N": "2"}
    assert remove["dynamodb"]["OldImage"]["id"] == {"S": "keep-1"}
    assert isinstance(insert["dynamodb"]["ApproximateCreationDateTime"], int)
    assert insert["eventSource"] == "aws:dynamodb" and insert["awsRegion"] == "us-east-1"
    lamina.client().delete_event_source_mapping(UUID=mapping["UUID"])


def test_mappings_survive_restart(moto: MotoServer, lamina: Server, collector: Collector,
                                  function: str) -> None:
    sqs, kinesis = moto.client("sqs"), moto.client("kinesis")
    # A long poll in flight when the server stops may take the message with it
    # (moto answers a closed connection): a short visibility timeout brings it back.
    url = sqs.create_queue(QueueName="esm-e2e-restart",
                           Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    kinesis.create_stream(StreamName="esm-e2e-restart", ShardCount=1)
    stream_arn = kinesis.describe_stream(StreamName="esm-e2e-restart")["StreamDescription"]["StreamARN"]
    client = lamina.client()
    for arn, extra in ((queue_arn, {}), (stream_arn, {"StartingPosition": "TRIM_HORIZON"})):
        client.create_event_source_mapping(FunctionName=function, EventSourceArn=arn, **extra)
    kinesis.put_record(StreamName="esm-e2e-restart", Data=b"before", PartitionKey="k")

    def stream_data() -> list[bytes]:
        return [base64.b64decode(r["kinesis"]["data"])
                for r in collector.records("aws:kinesis", stream_arn)]
    collector.wait(lambda: stream_data() == [b"before"], timeout=20)

    lamina.stop()
    sqs.send_message(QueueUrl=url, MessageBody="sent-while-down")
    kinesis.put_record(StreamName="esm-e2e-restart", Data=b"after", PartitionKey="k")
    lamina.start()
    collector.wait(lambda: any(r["body"] == "sent-while-down"
                               for r in collector.records("aws:sqs", queue_arn)), timeout=30)
    collector.wait(lambda: b"after" in stream_data(), timeout=20)
    assert stream_data() == [b"before", b"after"]      # resumed from the checkpoint
    states = {m["EventSourceArn"]: m["State"] for m in
              lamina.client().list_event_source_mappings(FunctionName=function)["EventSourceMappings"]}
    assert states == {queue_arn: "Enabled", stream_arn: "Enabled"}


def test_s3_webhook_notification(lamina: Server, collector: Collector, function: str) -> None:
    import urllib.error
    import urllib.request

    url = f"{lamina.endpoint}/_lamina/s3-notifications/{function}"
    record = {"eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "",
              "eventTime": "2024-01-01T00:00:00.000Z", "eventName": "s3:ObjectCreated:Put",
              "s3": {"s3SchemaVersion": "1.0", "configurationId": "Config",
                     "bucket": {"name": "esm-bucket", "arn": "arn:aws:s3:::esm-bucket"},
                     "object": {"key": "a+b.txt", "size": 3, "eTag": "x", "sequencer": "1"}}}
    body = json.dumps({"EventName": "s3:ObjectCreated:Put", "Key": "esm-bucket/a b.txt",
                       "Records": [record]}).encode()

    def post(token: str) -> int:
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as err:
            err.close()
            return int(err.code)

    assert post("wrong") == 403
    assert post("test") == 403                      # no resource policy for S3 yet
    lamina.client().add_permission(
        FunctionName=function, StatementId="s3", Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::esm-bucket",
        SourceAccount="000000000000")
    assert post("test") == 200
    collector.wait(lambda: bool(collector.records("aws:s3", None)), timeout=20)
    got = collector.records("aws:s3", None)[0]
    assert got["eventName"] == "ObjectCreated:Put" and got["awsRegion"] == "us-east-1"
    assert got["s3"]["object"]["key"] == "a+b.txt"


def test_sqs_fifo_order_per_group(moto: MotoServer, lamina: Server, collector: Collector,
                                  function: str) -> None:
    sqs = moto.client("sqs")
    url = sqs.create_queue(QueueName="esm-e2e.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = lamina.client().create_event_source_mapping(
        FunctionName=function, EventSourceArn=arn, BatchSize=2)
    sent = {g: [f"{g}-{i}" for i in range(4)] for g in ("g1", "g2")}
    for i in range(4):
        for group, bodies in sent.items():
            sqs.send_message(QueueUrl=url, MessageBody=bodies[i], MessageGroupId=group)
    collector.wait(lambda: len(collector.records("aws:sqs", arn)) >= 8, timeout=30)
    records = collector.records("aws:sqs", arn)
    for group, bodies in sent.items():
        assert [r["body"] for r in records if r["attributes"]["MessageGroupId"] == group] == bodies
    # (moto leaves out SequenceNumber; AWS sends it too)
    assert {"MessageGroupId", "MessageDeduplicationId"} <= set(records[0]["attributes"])
    lamina.client().delete_event_source_mapping(UUID=mapping["UUID"])

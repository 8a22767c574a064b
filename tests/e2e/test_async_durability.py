"""No accepted event is lost: `kill -9` of the server with 1,000 events queued.

Every event answered 202 is on disk before the answer. The function (reserved
concurrency 4, 50 ms per event) sends each result to an SQS destination on
moto_server; after the kill and a restart on the same data directory, every one
of the 1,000 request ids arrives there (at least once: an event that was running
at the kill may arrive twice).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import ROLE, Server, make_zip
from tests.e2e.test_async_destinations import Moto

pytestmark = pytest.mark.timeout(120)

EVENTS = 1000
SLOW = "import time\ndef handler(event, context):\n    time.sleep(0.05)\n    return event\n"


@pytest.fixture
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    m = Moto(tmp_path_factory.mktemp("moto") / "moto.log")
    yield m
    m.stop()


def delivered_ids(moto: Moto, url: str, seen: set[str]) -> None:
    sqs = moto.client("sqs")
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return
        for m in messages:
            seen.add(json.loads(m["Body"])["requestContext"]["requestId"])
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])


def test_kill_9_with_a_thousand_queued_events_loses_none(tmp_path: Any, moto: Moto) -> None:
    data = tmp_path / "data"
    first = Server(data, "--aws-endpoint-url", moto.endpoint).start()
    url, arn = moto.queue("delivered")
    try:
        client = first.client()
        client.create_function(FunctionName="durable", Runtime="python3.12", Role=ROLE,
                               Handler="handler.handler",
                               Code={"ZipFile": make_zip({"handler.py": SLOW})})
        client.get_waiter("function_active_v2").wait(
            FunctionName="durable", WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        client.put_function_concurrency(FunctionName="durable", ReservedConcurrentExecutions=4)
        client.put_function_event_invoke_config(
            FunctionName="durable", DestinationConfig={"OnSuccess": {"Destination": arn}})

        def send(i: int) -> str:
            resp = client.invoke(FunctionName="durable", InvocationType="Event",
                                 Payload=json.dumps({"i": i}))
            assert resp["StatusCode"] == 202
            return str(resp["ResponseMetadata"]["RequestId"])

        with ThreadPoolExecutor(8) as pool:
            accepted = set(pool.map(send, range(EVENTS)))
        assert len(accepted) == EVENTS
    finally:
        first.stop(kill=True)          # SIGKILL: no shutdown code runs
    assert first.proc is not None and first.proc.returncode == -9

    with sqlite3.connect(data / "events.db") as db:
        queued = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert queued >= EVENTS // 5, f"only {queued} events were still queued at the kill"

    second = Server(data, "--aws-endpoint-url", moto.endpoint).start()
    try:
        seen: set[str] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not accepted <= seen:
            delivered_ids(moto, url, seen)
            time.sleep(0.2)
        missing = accepted - seen
        assert not missing, f"{len(missing)} of {EVENTS} accepted events were lost"
        with sqlite3.connect(data / "events.db") as db:
            deadline = time.monotonic() + 5
            while db.execute("SELECT COUNT(*) FROM events").fetchone()[0] and \
                    time.monotonic() < deadline:
                time.sleep(0.1)
            assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    finally:
        second.stop()

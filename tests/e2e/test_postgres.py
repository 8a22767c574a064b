"""PostgreSQL and S3 storage: the store contracts on a real PostgreSQL, and replicas end to end.

The module starts its own PostgreSQL (initdb into a temp dir, pg_ctl on a free
loopback port, its unix socket in the same dir; as the `postgres` OS user when
run as root, since initdb refuses root) and a moto_server for S3. It skips only
when the PostgreSQL server binaries are not installed.

- The `MetadataStore` and event-queue contracts are written once and run on
  SQLite and on PostgreSQL, each store opened twice ("two replicas").
- Lease recovery is PostgreSQL-only: SQLite has one process per queue.
- End to end: `lamina server --metadata-url postgresql://… --blob-url s3://…`;
  create and invoke a function, restart on an empty data dir (all state is in
  PostgreSQL and S3), invoke again; a second replica sees and runs the function
  and an async event queued on one replica is delivered.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from lamina.invoke.queue import EventStorage, EventStore
from lamina.store.base import MetadataStore
from lamina.store.sqlite import SqliteMetadataStore
from tests.conftest import ROLE, Server, free_port, make_zip
from tests.moto_server import MotoServer

pytestmark = pytest.mark.timeout(120)


def _pg_bindir() -> Path | None:
    candidates = sorted((p for p in glob.glob("/usr/lib/postgresql/*/bin") if p.split("/")[4].isdigit()),
                        key=lambda p: int(p.split("/")[4]))
    for path in [*reversed(candidates), os.path.dirname(shutil.which("initdb") or "")]:
        if path and (Path(path) / "initdb").exists() and (Path(path) / "pg_ctl").exists():
            return Path(path)
    return None


class Postgres:
    """A throw-away PostgreSQL cluster; `database()` gives each test a fresh schema.

    (A schema named in the URL's `search_path` costs ~10 ms; CREATE DATABASE ~1 s.)
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="lamina-pg-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no `postgres` user for initdb")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        data = self.dir / "data"
        self._run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")
        self._run("pg_ctl", "-D", str(data), "-l", str(self.dir / "log"), "-w", "-t", "30", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c full_page_writes=off -c synchronous_commit=off", "start")
        self.admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        proc = subprocess.run([*self.as_user, str(self.bindir / tool), *args],
                              capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode:
            raise RuntimeError(f"{tool} failed: {proc.stdout}\n{proc.stderr}")

    def database(self) -> str:
        import psycopg
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        return f"{self.admin}?options=-csearch_path%3D{name}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed "
                    "(Debian: apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[postgres]')")
    pg = Postgres(bindir)
    yield pg
    pg.stop()


# -- MetadataStore contract, on both implementations ----------------------------------------------

OpenStore = Callable[[], MetadataStore]


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens another store on the same data: each call is one more replica/connection."""
    opened: list[MetadataStore] = []
    if request.param == "sqlite":
        def make() -> MetadataStore:
            return SqliteMetadataStore(tmp_path / "lamina.db")
    else:
        from lamina.store.postgres import PostgresMetadataStore
        url = request.getfixturevalue("postgres").database()

        def make() -> MetadataStore:
            return PostgresMetadataStore(url)

    def opener() -> MetadataStore:
        opened.append(make())
        return opened[-1]
    yield opener
    for store in opened:
        store.close()


def test_get_put_delete(open_store: OpenStore) -> None:
    store = open_store()
    assert store.get("function", "f") is None
    doc = {"name": "f", "n": 3, "ratio": 0.5, "tags": {"é": "ü"}, "list": [1, None, True]}
    store.put("function", "f", doc)
    assert store.get("function", "f") == doc
    assert store.get("version", "f") is None           # kinds are separate
    store.put("function", "f", {"name": "f", "n": 4})  # put replaces the whole document
    assert store.get("function", "f") == {"name": "f", "n": 4}
    assert open_store().get("function", "f") == {"name": "f", "n": 4}
    assert store.delete("function", "f") is True
    assert store.delete("function", "f") is False
    assert store.get("function", "f") is None


def test_scan_is_in_key_order_and_matches_prefixes_literally(open_store: OpenStore) -> None:
    store = open_store()
    keys = ["fn/2", "fn/10", "fn/$LATEST", "fn", "fn2/1", "Fn/1", "fo", "f%/1", "f_/1", "é/1", "z"]
    for key in keys:
        store.put("version", key, {"k": key})
    store.put("alias", "fn/a", {})
    expected = sorted(keys, key=lambda k: k.encode())        # byte order, as SQLite's BINARY
    assert [k for k, _ in store.scan("version")] == expected
    assert store.scan("version", "fn/") == [(k, {"k": k}) for k in ["fn/$LATEST", "fn/10", "fn/2"]]
    assert [k for k, _ in store.scan("version", "f%")] == ["f%/1"]     # no LIKE wildcards
    assert [k for k, _ in store.scan("version", "f_")] == ["f_/1"]
    assert store.scan("version", "nothing") == []
    assert store.delete_prefix("version", "fn/") == 3
    assert [k for k, _ in store.scan("version", "fn")] == ["fn", "fn2/1"]
    assert store.scan("alias") == [("fn/a", {})]


def test_transaction_rolls_back_on_error_including_nested_blocks(open_store: OpenStore) -> None:
    store = open_store()
    store.put("function", "keep", {"v": 1})
    with pytest.raises(RuntimeError), store.transaction():
        store.put("function", "keep", {"v": 2})
        with store.transaction():                          # joins the outer transaction
            store.put("function", "new", {"v": 1})
            store.delete("function", "keep")
        raise RuntimeError("abort")
    assert store.get("function", "keep") == {"v": 1}
    assert store.get("function", "new") is None
    with store.transaction():
        store.put("function", "new", {"v": 1})
    assert open_store().get("function", "new") == {"v": 1}


def test_uncommitted_changes_are_invisible_to_other_connections(open_store: OpenStore) -> None:
    a, b = open_store(), open_store()
    a.put("function", "x", {"v": 1})
    with a.transaction():
        a.put("function", "x", {"v": 2})
        assert a.get("function", "x") == {"v": 2}
        assert b.get("function", "x") == {"v": 1}           # reads do not wait for writers
    assert b.get("function", "x") == {"v": 2}


def test_transactions_on_two_connections_are_serialised(open_store: OpenStore) -> None:
    """Read-modify-write from two replicas loses no update, and create-if-absent has one winner."""
    stores = [open_store(), open_store()]
    stores[0].put("counter", "c", {"n": 0})
    rounds = 25
    winners: list[int] = []

    def work(i: int) -> None:
        store = stores[i]
        for _ in range(rounds):
            with store.transaction():
                doc = store.get("counter", "c")
                assert doc is not None
                time.sleep(0.0005)                 # widen the window a lost update needs
                store.put("counter", "c", {"n": doc["n"] + 1})
        with store.transaction():                  # CreateFunction's check-then-insert
            if store.get("function", "same-name") is None:
                time.sleep(0.02)
                store.put("function", "same-name", {"owner": i})
                winners.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert stores[1].get("counter", "c") == {"n": 2 * rounds}
    assert len(winners) == 1
    assert stores[0].get("function", "same-name") == {"owner": winners[0]}


# -- event queue contract -------------------------------------------------------------------------

OpenQueue = Callable[..., EventStorage]


@pytest.fixture(params=["sqlite", "postgres"])
def open_queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenQueue]:
    opened: list[EventStorage] = []
    if request.param == "sqlite":
        def make(replica: str | None = None, lease_s: float = 30.0) -> EventStorage:
            return EventStore(tmp_path / "events.db")
    else:
        from lamina.invoke.queue_postgres import PostgresEventStore
        url = request.getfixturevalue("postgres").database()

        def make(replica: str | None = None, lease_s: float = 30.0) -> EventStorage:
            return PostgresEventStore(url, replica, lease_s=lease_s)

    def opener(replica: str | None = None, lease_s: float = 30.0) -> EventStorage:
        opened.append(make(replica, lease_s))
        return opened[-1]
    opener.kind = request.param  # type: ignore[attr-defined]
    yield opener
    for queue in opened:
        with contextlib.suppress(Exception):     # some were closed by the test ("a replica died")
            queue.close()


def test_queue_claim_retry_done(open_queue: OpenQueue) -> None:
    q = open_queue()
    assert q.claim(10) == [] and q.next_due() is None and q.depth() == 0
    ids = [q.add("fn", None if i else "live", f"req-{i}", b"\x00payload%d" % i, {"i": i})
           for i in range(3)]
    assert q.depth() == 3 and q.next_due() is not None
    first = q.claim(2)
    assert [e.id for e in first] == ids[:2]                     # oldest first
    assert first[0].qualifier == "live" and first[0].payload == b"\x00payload0"
    assert first[0].meta == {"i": 0} and first[0].attempts == 0 and first[0].request_id == "req-0"
    rest = q.claim(10)
    assert [e.id for e in rest] == [ids[2]] and q.claim(10) == []   # claimed once only
    q.retry(ids[0], 0.0, attempts=1, throttles=2, meta={"note": "x"})
    q.retry(ids[1], 60.0, attempts=1, throttles=0)            # meta None keeps the notes
    again = q.claim(10)
    assert [(e.id, e.attempts, e.throttles, e.meta) for e in again] == [(ids[0], 1, 2, {"note": "x"})]
    due = q.next_due()
    assert due is not None and due > time.time() + 50
    q.done(ids[0])
    q.done(ids[2])
    assert q.depth() == 1 and q.claim(10) == []          # ids[1] waits for its delay


def test_two_claimers_never_get_the_same_event(open_queue: OpenQueue) -> None:
    queues = [open_queue("replica-a"), open_queue("replica-b")]
    ids = {queues[0].add("fn", None, f"r{i}", b"{}") for i in range(150)}
    got: list[list[str]] = [[], []]

    def drain(i: int) -> None:
        while True:
            batch = queues[i].claim(7)
            if not batch:
                return
            got[i].extend(e.id for e in batch)
            for e in batch:
                queues[i].done(e.id)

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not set(got[0]) & set(got[1])
    assert sorted(got[0] + got[1]) == sorted(ids)
    assert queues[0].depth() == 0


def test_recover_requeues_what_a_stopped_server_was_running(open_queue: OpenQueue) -> None:
    q = open_queue("replica-a")
    event_id = q.add("fn", None, "r", b"{}")
    assert [e.id for e in q.claim(5)] == [event_id]
    q.close()                                         # the server stops mid-delivery
    restarted = open_queue("replica-a")
    assert restarted.claim(5) == []
    assert restarted.recover() == 1
    again = restarted.claim(5)
    assert [(e.id, e.request_id) for e in again] == [(event_id, "r")]   # same request id


def test_postgres_recovers_only_events_of_dead_replicas(open_queue: OpenQueue) -> None:
    if open_queue.kind != "postgres":  # type: ignore[attr-defined]
        pytest.skip("SQLite serves one process: there are no other replicas")
    alive, doomed = open_queue("alive", lease_s=0.9), open_queue("doomed", lease_s=0.9)
    observer = open_queue("observer", lease_s=0.9)
    a_id = alive.add("fn", None, "a", b"{}")
    d_id = doomed.add("fn", None, "d", b"{}")
    assert [e.id for e in alive.claim(1)] == [a_id]
    assert [e.id for e in doomed.claim(1)] == [d_id]
    assert observer.recover() == 0                  # both claimers are alive
    doomed.close()                                  # dies: heartbeat gone, claim never released
    time.sleep(2.0)                                 # > lease: alive's renewed, doomed's lapsed
    observer.recover()                              # (a heartbeat may already have re-queued it)
    assert [e.id for e in observer.claim(5)] == [d_id]    # only the dead replica's event
    revenant = open_queue("doomed")                 # a late outcome from the old claimer …
    revenant.done(d_id)
    revenant.retry(d_id, 0.0, 5, 5)
    assert observer.depth() == 2 and observer.claim(5) == []   # … changes nothing
    alive.done(a_id)
    observer.done(d_id)
    assert observer.depth() == 0


# -- end to end: replicas on PostgreSQL with code in S3 -------------------------------------------

HANDLER = """import os
def handler(event, context):
    return {"got": event, "fn": context.function_name}
"""


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server.endpoint
    server.stop()


def _aws(url: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def test_replicas_share_functions_code_and_events(postgres: Postgres, moto: str,
                                                  tmp_path: Path) -> None:
    db = postgres.database()
    s3 = _aws(moto, "s3")
    s3.create_bucket(Bucket="lamina-code")
    args = ("--metadata-url", db, "--blob-url", "s3://lamina-code/code", "--aws-endpoint-url", moto)
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    for sub in ("one", "one-again", "two"):
        (tmp_path / sub).mkdir()
    first = Server(tmp_path / "one" / "data", *args, env=env).start()
    servers = [first]
    try:
        client = first.client()
        package = make_zip({"handler.py": HANDLER})
        created = client.create_function(FunctionName="shared", Runtime="python3.12", Role=ROLE,
                                         Handler="handler.handler", Code={"ZipFile": package})
        client.get_waiter("function_active_v2").wait(
            FunctionName="shared", WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        assert _invoke(client, {"n": 1}) == {"got": {"n": 1}, "fn": "shared"}
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lamina-code")["Contents"]]
        assert len(keys) == 1 and keys[0].startswith("code/")          # code at rest in S3
        assert not (first.data_dir / "lamina.db").exists()

        # Restart on an empty data dir: everything must come back from PostgreSQL and S3.
        first.stop()
        first = Server(tmp_path / "one-again" / "data", *args, env=env).start()
        servers.append(first)
        client = first.client()
        config = client.get_function_configuration(FunctionName="shared")
        assert config["CodeSha256"] == created["CodeSha256"]
        assert _invoke(client, {"n": 2}) == {"got": {"n": 2}, "fn": "shared"}

        # A second replica on the same database sees and runs the function.
        second = Server(tmp_path / "two" / "data", *args, env=env).start()
        servers.append(second)
        other = second.client()
        assert [f["FunctionName"] for f in other.list_functions()["Functions"]] == ["shared"]
        assert _invoke(other, {"n": 3}) == {"got": {"n": 3}, "fn": "shared"}

        # An async event accepted by one replica is delivered through the shared queue.
        sqs = _aws(moto, "sqs")
        queue_url = sqs.create_queue(QueueName="lamina-ok")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        client.put_function_event_invoke_config(
            FunctionName="shared", DestinationConfig={"OnSuccess": {"Destination": queue_arn}})
        resp = other.invoke(FunctionName="shared", InvocationType="Event",
                            Payload=json.dumps({"n": 4}))
        assert resp["StatusCode"] == 202
        record = _receive(sqs, queue_url)
        assert record["requestContext"]["requestId"] == resp["ResponseMetadata"]["RequestId"]
        assert record["responsePayload"] == {"got": {"n": 4}, "fn": "shared"}
    finally:
        for srv in servers:
            srv.stop()


def _invoke(client: Any, payload: dict[str, Any]) -> Any:
    resp = client.invoke(FunctionName="shared", Payload=json.dumps(payload))
    body = resp["Payload"].read()
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp, body
    return json.loads(body)


def _receive(sqs: Any, url: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")
        if messages:
            return json.loads(messages[0]["Body"])
    raise AssertionError(f"no success record arrived on {url} within {timeout} s")

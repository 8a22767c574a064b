"""Pre-warmed Python environments (`--prewarm N`): a cold start takes a waiting runtime.

A function can tell a pre-warmed start only from /proc/self/environ, which still
holds the generic environment the process started with (`_LAMINA_STANDBY=1`); the
tests use that as the marker. Everything else must be exactly the function's, so
the same function is also run on the session server (no pre-warming) to compare.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROLE, Server, make_zip

PROBE = """
import json, os, sys
MB = 1024 * 1024
print("printed while the handler module was imported")
def handler(event, context):
    if event.get("alloc_mb"):
        hog = [b"x" * MB for _ in range(event["alloc_mb"])]
        return len(hog)
    if event.get("touch"):
        open("/tmp/" + event["touch"], "w").write("x")
    with open("/proc/self/environ", "rb") as f:
        started_with = f.read().split(b"\\0")
    st = os.statvfs("/tmp")
    try:
        open("/var/task/new.txt", "w")
        task_writable = True
    except OSError:
        task_writable = False
    return {"env": dict(os.environ), "sys_path": sys.path, "cwd": os.getcwd(),
            "standby": b"_LAMINA_STANDBY=1" in started_with,
            "tmp_mb": st.f_blocks * st.f_frsize // MB, "tmp": sorted(os.listdir("/tmp")),
            "task": sorted(os.listdir("/var/task")), "task_writable": task_writable,
            "opt": sorted(os.listdir("/opt")), "data": open("/var/task/data.txt").read(),
            "memory": context.memory_limit_in_mb, "name": context.function_name,
            "modules": sorted(m for m in sys.modules if m.startswith("_lamina") or m == "handler")}
"""
FILES = {"handler.py": PROBE, "data.txt": "the function's own data", "pkg/inner.py": "X = 1\n"}
# Vary by run and by host, not by function configuration.
VOLATILE = {"AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_LOG_STREAM_NAME", "_X_AMZN_TRACE_ID",
            "AWS_ENDPOINT_URL_LAMBDA", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_LOG_GROUP_NAME"}


@pytest.fixture(scope="module")
def prewarm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # python3.12 slots from the start; other ids once they cold-start.
    srv = Server(tmp_path_factory.mktemp("prewarm") / "data", "--prewarm", "2",
                 "--keep-alive", "60", env={"LAMINA_PREWARM_RUNTIMES": "python3.12"}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(prewarm_server: Server):  # type: ignore[no-untyped-def]
    return prewarm_server.client()


@pytest.fixture(scope="module")
def plain_client(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A server without pre-warming (the default has it on), for plain cold starts."""
    srv = Server(tmp_path_factory.mktemp("plain") / "data", "--prewarm", "0",
                 "--keep-alive", "60").start()
    yield srv.client()
    srv.stop()


def create(client, files: dict[str, str], **kw: object) -> str:  # type: ignore[no-untyped-def]
    fn = f"pw-{uuid.uuid4().hex[:8]}"
    kw.setdefault("Runtime", "python3.12")
    client.create_function(FunctionName=fn, Role=ROLE, Handler="handler.handler",
                           Code={"ZipFile": make_zip(files)}, **kw)
    client.get_waiter("function_active_v2").wait(FunctionName=fn,
                                                 WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    return fn


def invoke(client, fn: str, event: dict | None = None) -> tuple[dict, object, str]:  # type: ignore[no-untyped-def]
    resp = client.invoke(FunctionName=fn, Payload=json.dumps(event or {}), LogType="Tail")
    body = resp["Payload"].read()
    return resp, json.loads(body) if body else None, base64.b64decode(resp["LogResult"]).decode()


def init_ms(log: str) -> float | None:
    m = re.search(r"Init Duration: ([\d.]+) ms", log)
    return float(m.group(1)) if m else None


def settle() -> None:
    """Give the background refill time to have a slot waiting (one start at a time)."""
    time.sleep(1.0)


def comparable(body: dict) -> dict:
    body = dict(body)
    body["env"] = {k: v for k, v in body["env"].items() if k not in VOLATILE}
    body.pop("standby")
    return body


def test_cold_start_takes_a_slot_and_is_exactly_the_function(client, plain_client):  # type: ignore[no-untyped-def]
    kw = {"MemorySize": 256, "Environment": {"Variables": {"GREETING": "hi", "PATH": "/custom:/usr/bin"}}}
    settle()
    fn = create(client, FILES, **kw)
    resp, body, log = invoke(client, fn)
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp, body
    assert body["standby"], "the cold start did not take a pre-warmed slot"
    warm_init = init_ms(log)
    assert warm_init is not None, log
    assert "printed while the handler module was imported" in log     # Init's output

    # The same function on a server without pre-warming: a plain cold start.
    plain = create(plain_client, FILES, **kw)
    _, plain_body, plain_log = invoke(plain_client, plain)
    assert not plain_body["standby"]
    print(f"\nInit Duration: pre-warmed slot {warm_init:.1f} ms, "
          f"normal cold start {init_ms(plain_log):.1f} ms")
    ours, theirs = comparable(body), comparable(plain_body)
    assert body["env"]["AWS_LAMBDA_FUNCTION_NAME"] == fn
    assert (ours.pop("name"), theirs.pop("name")) == (fn, plain)
    differing = sorted(k for k in {*ours["env"], *theirs["env"]}
                       if ours["env"].get(k) != theirs["env"].get(k))
    assert differing == [], [(k, ours["env"].get(k), theirs["env"].get(k)) for k in differing]
    assert ours == theirs
    assert body["env"]["GREETING"] == "hi" and body["env"]["PATH"] == "/custom:/usr/bin"
    assert "_LAMINA_STANDBY" not in body["env"]
    assert body["memory"] == "256" and body["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert body["tmp_mb"] == 512 and body["tmp"] == []
    assert body["task"] == ["data.txt", "handler.py", "pkg"] and not body["task_writable"]
    assert body["opt"] == []

    # Warm afterwards, like any environment: same process, no Init Duration.
    _, again, log = invoke(client, fn)
    assert init_ms(log) is None and again["standby"]


def test_memory_limit_is_the_functions(client):  # type: ignore[no-untyped-def]
    settle()
    # A generous timeout: at 128 MB the function has 7% of a CPU, and filling 200 MB under
    # that cap can take seconds before the kernel's OOM kill (this checks the limit, not speed).
    fn = create(client, FILES, MemorySize=128, Timeout=20)
    _, body, _ = invoke(client, fn)
    assert body["standby"] and body["memory"] == "128"
    resp, body, _ = invoke(client, fn, {"alloc_mb": 200})   # a slot starts with 10,240 MB
    assert resp.get("FunctionError") == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory", body


def test_two_functions_get_different_slots(client):  # type: ignore[no-untyped-def]
    settle()
    first, second = create(client, FILES), create(client, FILES)
    _, a, _ = invoke(client, first, {"touch": "from-first"})
    settle()
    _, b, _ = invoke(client, second)
    assert a["standby"] and b["standby"]
    assert a["env"]["AWS_LAMBDA_RUNTIME_API"] != b["env"]["AWS_LAMBDA_RUNTIME_API"]
    assert a["tmp"] == ["from-first"] and b["tmp"] == []
    assert (a["name"], b["name"]) == (first, second)


@pytest.mark.parametrize("files, error_type", [
    ({"handler.py": "raise ValueError('broken at import')\n"}, "ValueError"),
    ({"other.py": "X = 1\n"}, "Runtime.ImportModuleError"),
    ({"handler.py": "def handler(:\n"}, "Runtime.UserCodeSyntaxError"),
])
def test_init_errors_surface_as_without_prewarm(client, plain_client, files, error_type):  # type: ignore[no-untyped-def]
    settle()
    fn, plain = create(client, files), create(plain_client, files)
    resp, body, log = invoke(client, fn)
    _, plain_body, _ = invoke(plain_client, plain)
    assert resp.get("FunctionError") == "Unhandled"
    assert body["errorType"] == error_type and body == plain_body
    assert init_ms(log) is not None, log
    # The failed environment is reset; the next invocation runs Init again and fails alike.
    _, again, log = invoke(client, fn)
    assert again == body and init_ms(log) is not None


def test_functions_a_slot_cannot_serve_start_normally(client):  # type: ignore[no-untyped-def]
    settle()
    startup_var = create(client, FILES, Environment={"Variables": {"PYTHONDONTWRITEBYTECODE": "1"}})
    big_tmp = create(client, FILES, EphemeralStorage={"Size": 1024})
    _, a, _ = invoke(client, startup_var)
    _, b, _ = invoke(client, big_tmp)
    assert not a["standby"] and a["env"]["PYTHONDONTWRITEBYTECODE"] == "1"
    assert not b["standby"] and b["tmp_mb"] == 1024


def test_other_python_ids_are_warmed_once_they_cold_start(client):  # type: ignore[no-untyped-def]
    first = create(client, FILES, Runtime="python3.11")
    _, body, _ = invoke(client, first)
    assert not body["standby"]            # no python3.11 slot yet: this start creates demand
    settle()
    second = create(client, FILES, Runtime="python3.11")
    _, body, log = invoke(client, second)
    assert body["standby"] and init_ms(log) is not None


def test_slots_are_gone_after_the_server_stops(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", "--prewarm", "1",
                 env={"LAMINA_PREWARM_RUNTIMES": "python3.12"}).start()
    try:
        settle()
        slots = [p for p in (tmp_path / "data" / "envs").iterdir() if (p / "task").is_dir()]
        assert slots, "no slot was started"
    finally:
        srv.stop()
    assert not any((tmp_path / "data" / "envs").iterdir())
    leftovers = [p.name for p in Path("/sys/fs/cgroup/memory/lamina").glob("*")
                 if p.is_dir() and p.name in {s.name for s in slots}]
    assert leftovers == []

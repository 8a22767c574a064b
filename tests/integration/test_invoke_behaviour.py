"""Invocation behaviour through a real server and real bubblewrap sandboxes."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import re
import time
import uuid

import pytest

from tests.conftest import make_zip


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def call(client, fn, event=None, **kw):
    resp = client.invoke(FunctionName=fn, Payload=json.dumps(event or {}), **kw)
    body = resp["Payload"].read()
    return resp, json.loads(body) if body else None


def tail(resp) -> str:
    return base64.b64decode(resp["LogResult"]).decode()


STATE = """
import os, time
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    if event.get("write"):
        open("/tmp/state.txt", "w").write(event["write"])
    if event.get("sleep"):
        time.sleep(event["sleep"])
    data = open("/tmp/state.txt").read() if os.path.exists("/tmp/state.txt") else None
    return {"count": COUNT, "tmp": data, "pid": os.getpid(), "stream": context.log_stream_name}
"""


def test_warm_reuse_keeps_globals_and_tmp_and_cold_start_reports_init(lambda_client, create_function):
    fn = name("warm")
    create_function(fn, {"handler.py": STATE})
    first, body1 = call(lambda_client, fn, {"write": "kept"}, LogType="Tail")
    assert "Init Duration:" in tail(first)
    second, body2 = call(lambda_client, fn, LogType="Tail")
    assert "Init Duration:" not in tail(second)
    assert body2["count"] == 2 and body2["tmp"] == "kept"
    assert body1["stream"] == body2["stream"]


def test_concurrent_invocations_get_separate_environments(lambda_client, create_function):
    fn = name("conc")
    create_function(fn, {"handler.py": STATE})
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: call(lambda_client, fn, {"sleep": 1.0})[1], range(4)))
    assert len({r["stream"] for r in results}) == 4, "one environment runs one invocation at a time"
    assert all(r["count"] == 1 for r in results)


def test_timeout_resets_the_runtime_but_keeps_tmp(lambda_client, create_function):
    fn = name("tmo")
    create_function(fn, {"handler.py": STATE}, Timeout=1)
    call(lambda_client, fn, {"write": "before-timeout"})
    resp, body = call(lambda_client, fn, {"sleep": 3}, LogType="Tail")
    assert resp["FunctionError"] == "Unhandled" and body["errorType"] == "Sandbox.Timedout"
    log = tail(resp)
    assert re.search(r"Task timed out after 1\.00 seconds", log)
    after, body = call(lambda_client, fn, LogType="Tail")
    assert "Init Duration:" in tail(after), "the next invocation runs Init again"
    assert body["count"] == 1, "globals are gone after the reset"
    assert body["tmp"] == "before-timeout", "/tmp survives a reset, as on AWS"


def test_out_of_memory_is_reported_and_contained(lambda_client, create_function):
    fn = name("oom")
    hog = "def handler(event, context):\n    blocks = []\n    while True:\n        blocks.append(bytearray(16 * 1024 * 1024))\n"
    create_function(fn, {"handler.py": hog}, MemorySize=128, Timeout=20)
    resp, body = call(lambda_client, fn)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory", body
    assert body["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    assert lambda_client.list_functions()["Functions"] is not None   # the server still answers


def test_memory_size_and_report_line(lambda_client, create_function):
    fn = name("mem")
    create_function(fn, {"handler.py": "def handler(e, c):\n    return c.memory_limit_in_mb\n"},
                    MemorySize=256)
    resp, body = call(lambda_client, fn, LogType="Tail")
    assert body == "256"
    report = [line for line in tail(resp).splitlines() if line.startswith("REPORT")][0]
    assert "\tMemory Size: 256 MB\t" in report
    used = int(re.search(r"Max Memory Used: (\d+) MB", report).group(1))
    assert 1 <= used <= 256


def test_crash_and_exit_codes(lambda_client, create_function):
    fn = name("crash")
    create_function(fn, {"handler.py": "import os\ndef handler(e, c):\n    os._exit(3)\n"})
    resp, body = call(lambda_client, fn)
    assert body == {"errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {resp['ResponseMetadata']['RequestId']} Error: "
                                    "Runtime exited with error: exit status 3"}


def test_async_event_runs_in_the_background(lambda_client, create_function, server):
    fn = name("async")
    create_function(fn, {"handler.py": "def handler(e, c):\n    print('async-ran', e['n'])\n"})
    resp = lambda_client.invoke(FunctionName=fn, InvocationType="Event", Payload=b'{"n": 7}')
    assert resp["StatusCode"] == 202
    logs = server.client("logs")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{fn}")["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        if any("async-ran 7" in e["message"] for e in events):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the queued event never ran")


def test_idle_environments_are_reaped(tmp_path):
    from tests.conftest import ROLE, Server
    srv = Server(tmp_path / "data", "--keep-alive", "1").start()
    try:
        client = srv.client()
        client.create_function(FunctionName="reap", Runtime="python3.12", Role=ROLE,
                               Handler="handler.handler", Code={"ZipFile": make_zip({"handler.py": STATE})})
        client.get_waiter("function_active_v2").wait(FunctionName="reap", WaiterConfig={"Delay": 0.2})
        first = json.load(client.invoke(FunctionName="reap", Payload=b"{}")["Payload"])
        time.sleep(4)
        resp = client.invoke(FunctionName="reap", Payload=b"{}", LogType="Tail")
        second = json.load(resp["Payload"])
        assert second["count"] == 1 and second["stream"] != first["stream"]
        assert "Init Duration:" in tail(resp)
    finally:
        srv.stop()



@pytest.mark.parametrize("runtime", ["python3.8", "python3.9", "python3.10", "python3.11", "python3.12",
                                     "python3.13", "python3.14"])
def test_every_python_runtime_id_runs(lambda_client, create_function, runtime):
    fn = name(runtime.replace(".", "-"))
    create_function(fn, {"handler.py": "import os, sys\n"
                                       "def handler(event, context):\n"
                                       "    return {'env': os.environ['AWS_EXECUTION_ENV'],\n"
                                       "            'version': list(sys.version_info[:2])}\n"},
                    runtime=runtime)
    resp, body = call(lambda_client, fn)
    assert "FunctionError" not in resp, body
    assert body["env"] == f"AWS_Lambda_{runtime}"
    major, minor = (int(x) for x in runtime.removeprefix("python").split("."))
    # the host's interpreter for that id, or the nearest one (docs/compatibility.md);
    # ids below 3.10 (deprecated on AWS, not yet blocked) run on 3.10 or newer
    assert body["version"][0] == major
    if minor < 10:
        assert body["version"][1] >= 10
    else:
        assert abs(body["version"][1] - minor) <= 1


def test_boto3_is_available_as_on_aws_and_a_bundled_copy_wins(lambda_client, create_function):
    fn = name("sdk")
    create_function(fn, {"handler.py": "import boto3, botocore\n"
                                       "def handler(event, context):\n"
                                       "    return [boto3.__version__, boto3.__file__]\n"})
    resp, body = call(lambda_client, fn)
    assert "FunctionError" not in resp, body
    version, path = body
    assert path.startswith("/var/lang/sdk/") and version
    bundled = name("sdk-bundled")
    create_function(bundled, {"handler.py": "import boto3\n"
                                            "def handler(event, context):\n"
                                            "    return boto3.__file__\n",
                              "boto3/__init__.py": "__version__ = 'bundled'\n"})
    assert call(lambda_client, bundled)[1] == "/var/task/boto3/__init__.py"

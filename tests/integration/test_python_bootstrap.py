"""Lamina's Python bootstrap as a real process against a real Runtime API server.

The server is tests/runtime_stub.py, a small aiohttp implementation of the
2018-06-01 Runtime API (one event queue, results recorded), not the platform's:
these tests pin down the runtime's side of the protocol and every output a client
can see. No sandbox is involved; LAMBDA_TASK_ROOT points at a temporary folder.
"""

from __future__ import annotations

import json
import os
import queue
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lamina.runtimes.base import LaunchContext, LaunchError
from lamina.runtimes.python import BOOTSTRAP_DIR, RUNTIME_IDS, PythonFamily
from tests.runtime_stub import Launcher, Proc, RuntimeApi, write_task

ECHO = "def handler(event, context):\n    return event\n"


# ---------------------------------------------------------------------------------------
# Starting the bootstrap
# ---------------------------------------------------------------------------------------

def _available_runtimes() -> list[str]:
    family = PythonFamily()
    found = []
    for runtime_id in RUNTIME_IDS:
        try:
            if not family.interpreter(runtime_id).substituted_for:
                found.append(runtime_id)
        except LaunchError:
            pass
    return found


AVAILABLE = _available_runtimes()
DEFAULT_RUNTIME = "python3.12" if "python3.12" in AVAILABLE else AVAILABLE[-1]


@pytest.fixture
def api() -> Iterator[RuntimeApi]:
    with RuntimeApi() as server:
        yield server


Start = Callable[..., Proc]


@pytest.fixture
def start(api: RuntimeApi, tmp_path: Path) -> Iterator[Start]:
    launcher = Launcher(api, tmp_path)

    def launch(files: dict[str, str], handler: str = "handler.handler",
               runtime_id: str = DEFAULT_RUNTIME, env: dict[str, str] | None = None) -> Proc:
        task = write_task(tmp_path / f"task{len(launcher.procs)}", files)
        ctx = LaunchContext(runtime_id, handler, task, None)
        launch = PythonFamily().launch(ctx)
        assert launch.runtime_dir == BOOTSTRAP_DIR
        return launcher.start(ctx, launch, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                                "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime_id}",
                                                **(env or {})})

    yield launch
    launcher.kill_all()


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("runtime_id", AVAILABLE)
def test_echo_on_every_interpreter(api: RuntimeApi, start: Start, runtime_id: str) -> None:
    rt = start({"handler.py": ECHO}, runtime_id=runtime_id)
    for event in ({"hello": "world"}, [1, 2.5, None, True], "text"):
        posted = api.invoke(event)
        assert posted.kind == "response"
        assert posted.headers["Content-Type"] == "application/json"
        assert posted.json() == event
    assert wait_for(lambda: len(api.next_times) == 4), "the runtime asks for the next event"
    assert len(api.peers) == 1, "one persistent connection for every request"
    assert rt.process.poll() is None


@pytest.mark.parametrize("runtime_id", AVAILABLE)
def test_handler_error_shape(api: RuntimeApi, start: Start, runtime_id: str) -> None:
    rt = start({"handler.py": 'def handler(event, context):\n    raise Exception("Handler fails")\n'},
               runtime_id=runtime_id)
    posted = api.invoke(request_id="11111111-2222-3333-4444-555555555555")
    assert posted.kind == "error"
    assert posted.headers["Lambda-Runtime-Function-Error-Type"] == "Exception"
    body = posted.json()
    assert list(body) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert body["errorMessage"] == "Handler fails"
    assert body["errorType"] == "Exception"
    assert body["requestId"] == "11111111-2222-3333-4444-555555555555"
    assert body["stackTrace"] == [
        f'  File "{rt.task}/handler.py", line 2, in handler\n    raise Exception("Handler fails")\n']
    cause = json.loads(posted.headers["Lambda-Runtime-Function-XRay-Error-Cause"])
    assert cause["exceptions"][0]["stack"] == [
        {"label": "handler", "path": f"{rt.task}/handler.py", "line": 2}]
    # The official runtime's log record: one line, \r-separated, NBSP-indented.
    assert (f"[ERROR] Exception: Handler fails\rTraceback (most recent call last):\r"
            f'\u00a0\u00a0File "{rt.task}/handler.py", line 2, in handler\r'
            f'\u00a0\u00a0\u00a0\u00a0raise Exception("Handler fails")\n') in rt.log()
    assert api.invoke().kind == "error", "the environment survives a handler error"


@pytest.mark.parametrize("runtime_id", AVAILABLE)
def test_init_error_shape(api: RuntimeApi, start: Start, runtime_id: str) -> None:
    rt = start({"handler.py": 'raise Exception("Runtime startup fails")\n\n\n'
                              'def handler(event, context):\n    return "never reached"\n'},
               runtime_id=runtime_id)
    posted = api.wait_posted()
    assert posted.kind == "init_error"
    assert posted.headers["Lambda-Runtime-Function-Error-Type"] == "Exception"
    body = posted.json()
    assert list(body) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert body["errorMessage"] == "Runtime startup fails"
    assert body["errorType"] == "Exception"
    assert body["requestId"] == ""
    assert body["stackTrace"][-1] == (f'  File "{rt.task}/handler.py", line 1, in <module>\n'
                                      '    raise Exception("Runtime startup fails")\n')
    # Like AWS: the bootstrap's own frames are dropped, importlib's are kept.
    assert not any("bootstrap.py\"" in frame for frame in body["stackTrace"])
    assert "importlib/__init__.py" in body["stackTrace"][0]
    assert rt.wait() == 1
    assert api.next_times == []
    log = rt.log()
    assert re.search(r"^\[WARNING\]\t\S+Z\t\tLAMBDA_WARNING: Unhandled exception\.", log, re.MULTILINE)
    assert "[ERROR] Exception: Runtime startup fails\rTraceback (most recent call last):\r" in log


@pytest.mark.parametrize(("handler", "files", "error_type", "message"), [
    ("handler", {"handler.py": ECHO}, "Runtime.MalformedHandlerName",
     "Bad handler 'handler': not enough values to unpack (expected 2, got 1)"),
    ("nope.handler", {"handler.py": ECHO}, "Runtime.ImportModuleError",
     "Unable to import module 'nope': No module named 'nope'"),
    ("handler.handler", {"handler.py": "import not_installed_dep\n"}, "Runtime.ImportModuleError",
     "Unable to import module 'handler': No module named 'not_installed_dep'"),
    ("handler.missing", {"handler.py": ECHO}, "Runtime.HandlerNotFound",
     "Handler 'missing' missing on module 'handler'"),
    ("sys.handler", {"handler.py": ECHO}, "Runtime.BuiltInModuleConflict",
     "Cannot use built-in module sys as a handler module"),
])
def test_handler_resolution_errors(api: RuntimeApi, start: Start, handler: str, files: dict[str, str],
                                   error_type: str, message: str) -> None:
    rt = start(files, handler=handler)
    posted = api.wait_posted()
    assert posted.kind == "init_error"
    assert posted.headers["Lambda-Runtime-Function-Error-Type"] == error_type
    assert posted.json() == {"errorMessage": message, "errorType": error_type,
                             "requestId": "", "stackTrace": []}
    assert rt.wait() == 1


def test_syntax_error(api: RuntimeApi, start: Start) -> None:
    rt = start({"handler.py": "def handler(event, context)\n    return 1\n"})
    body = api.wait_posted().json()
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    assert body["errorMessage"].startswith("Syntax error in module 'handler': ")
    assert body["stackTrace"] == [
        f'  File "{rt.task}/handler.py" Line 1\n    def handler(event, context)\n']
    assert rt.wait() == 1


@pytest.mark.parametrize("handler", ["pkg/sub.mod.handler", "pkg.sub.mod.handler"])
def test_nested_handler_paths(api: RuntimeApi, start: Start, handler: str) -> None:
    start({"pkg/__init__.py": "", "pkg/sub/__init__.py": "",
           "pkg/sub/mod.py": "def handler(event, context):\n    return __name__\n"},
          handler=handler)
    assert api.invoke().json() == "pkg.sub.mod"


CONTEXT_HANDLER = '''\
import os

def handler(event, context):
    cc = context.client_context
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "tenant_id": context.tenant_id,
        "remaining": context.get_remaining_time_in_millis(),
        "identity": [context.identity.cognito_identity_id,
                     context.identity.cognito_identity_pool_id],
        "client": None if cc is None else [cc.client.installation_id, cc.custom, cc.env],
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
    }
'''


def test_context_fields(api: RuntimeApi, start: Start) -> None:
    start({"handler.py": CONTEXT_HANDLER})
    rid = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    body = api.invoke(request_id=rid, deadline_s=7, headers={
        "Lambda-Runtime-Client-Context": json.dumps(
            {"client": {"installation_id": "inst"}, "custom": {"k": "v"}, "env": {"e": "1"}}),
        "Lambda-Runtime-Cognito-Identity": json.dumps(
            {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}),
        "Lambda-Runtime-Aws-Tenant-Id": "tenant-7",
        "Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
    }).json()
    assert isinstance(body, dict)
    remaining = body.pop("remaining")
    assert 6000 < remaining <= 7000
    assert body == {
        "aws_request_id": rid, "function_name": "fn", "function_version": "$LATEST",
        "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
        "memory_limit_in_mb": "128", "log_group_name": "/aws/lambda/fn",
        "log_stream_name": "2024/01/01/[$LATEST]0123456789abcdef0123456789abcdef",
        "tenant_id": "tenant-7", "identity": ["id-1", "pool-1"],
        "client": ["inst", {"k": "v"}, {"e": "1"}],
        "trace": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
    }
    # Without the optional headers: no client context, identity fields None, trace removed.
    body = api.invoke(headers={"Lambda-Runtime-Trace-Id": None}).json()
    assert isinstance(body, dict)
    assert body["client"] is None and body["identity"] == [None, None]
    assert body["tenant_id"] is None and body["trace"] is None


def test_bad_client_context_is_a_runtime_error(api: RuntimeApi, start: Start) -> None:
    start({"handler.py": ECHO})
    posted = api.invoke(headers={"Lambda-Runtime-Client-Context": "{not json"})
    assert posted.kind == "error"
    body = posted.json()
    assert body["errorType"] == "Runtime.LambdaContextUnmarshalError"
    assert body["errorMessage"].startswith("Unable to parse Client Context JSON: Expecting")


LOGGING_HANDLER = '''\
import logging
logging.warning("at init")

def handler(event, context):
    print("plain print")
    logging.info("info is filtered by default")
    logging.getLogger("app").warning("warned %s", 42, extra={"k": "v"})
    return None
'''


def test_text_logging_format(api: RuntimeApi, start: Start) -> None:
    rt = start({"handler.py": LOGGING_HANDLER})
    rid = "12345678-1234-1234-1234-123456789012"
    posted = api.invoke(request_id=rid)
    assert posted.body == b"null"
    lines = rt.log().splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.fullmatch(rf"\[WARNING\]\t{stamp}\t\tat init", lines[0]), lines
    assert lines[1] == "plain print"
    assert re.fullmatch(rf"\[WARNING\]\t{stamp}\t{rid}\twarned 42", lines[2]), lines
    assert len(lines) == 3
    # The time is UTC (the official runtime sets logging.Formatter.converter = gmtime).
    logged = time.strptime(lines[2].split("\t")[1][:19], "%Y-%m-%dT%H:%M:%S")
    assert abs(time.mktime(logged) - time.mktime(time.gmtime())) < 60


def test_json_logging_format(api: RuntimeApi, start: Start) -> None:
    rt = start({"handler.py": LOGGING_HANDLER},
               env={"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"})
    rid = "12345678-1234-1234-1234-123456789012"
    api.invoke(request_id=rid)
    lines = rt.log().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert lines[1] == "plain print"
    assert [r["message"] for r in records] == ["at init", "info is filtered by default",
                                               "warned 42"]
    init, info, warned = records
    assert set(init) == {"timestamp", "level", "message", "logger", "requestId"}
    assert init["requestId"] == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", init["timestamp"])
    assert info["level"] == "INFO" and info["requestId"] == rid and info["logger"] == "root"
    assert warned == {"timestamp": warned["timestamp"], "level": "WARNING",
                      "message": "warned 42", "logger": "app", "requestId": rid, "k": "v"}


def test_sys_exit_in_handler_ends_the_process(api: RuntimeApi, start: Start) -> None:
    rt = start({"handler.py": "import sys\n\ndef handler(event, context):\n    sys.exit(0)\n"})
    api.send(b"{}")
    assert rt.wait() == 0
    with pytest.raises(queue.Empty):
        api.wait_posted(timeout=0.2)


MARSHAL_HANDLER = '''\
import decimal

def handler(event, context):
    kind = event["kind"]
    if kind == "decimal":
        return {"d": decimal.Decimal("1.10"), "big": decimal.Decimal("12345678901234567890.5"),
                "nan": decimal.Decimal("NaN"), "f": 0.1}
    if kind == "set":
        return {1, 2}
    if kind == "unicode":
        return {"text": "h\\u00e9 \\u2603"}
    if kind == "bytes":
        return b"\\x00raw"
    if kind == "nested-bytes":
        return {"b": b"abc"}
    return event
'''


def test_result_encoding(api: RuntimeApi, start: Start) -> None:
    start({"handler.py": MARSHAL_HANDLER}, runtime_id=DEFAULT_RUNTIME)
    posted = api.invoke({"kind": "decimal"})
    assert posted.body == (b'{"d": 1.10, "big": 12345678901234567890.5, "nan": NaN, "f": 0.1}')
    posted = api.invoke({"kind": "set"})
    assert posted.kind == "error"
    assert posted.json() == {
        "errorMessage": "Unable to marshal response: Object of type set is not JSON serializable",
        "errorType": "Runtime.MarshalError", "requestId": posted.request_id, "stackTrace": []}
    posted = api.invoke({"kind": "bytes"})
    assert posted.body == b"\x00raw"
    assert posted.headers["Content-Type"] == "application/unknown"
    assert api.invoke({"kind": "nested-bytes"}).body == b'{"b": "abc"}'
    unicode = api.invoke({"kind": "unicode"}).body
    # python3.12+ keep non-ASCII characters; older runtimes escape them.
    if DEFAULT_RUNTIME >= "python3.12":
        assert unicode == '{"text": "h\u00e9 \u2603"}'.encode()
    else:
        assert unicode == b'{"text": "h\\u00e9 \\u2603"}'


def test_ascii_escaping_before_python312(api: RuntimeApi, start: Start) -> None:
    start({"handler.py": MARSHAL_HANDLER}, env={"AWS_EXECUTION_ENV": "AWS_Lambda_python3.11"})
    assert api.invoke({"kind": "unicode"}).body == b'{"text": "h\\u00e9 \\u2603"}'


def test_unmarshal_error(api: RuntimeApi, start: Start) -> None:
    start({"handler.py": ECHO})
    posted = api.invoke(b"this is not json")
    assert posted.kind == "error"
    body = posted.json()
    assert body["errorType"] == "Runtime.UnmarshalError"
    assert body["errorMessage"] == ("Unable to unmarshal input: Expecting value: "
                                    "line 1 column 1 (char 0)")


SYS_PATH_HANDLER = '''\
import os, sys
STATE = {"count": 0}

def handler(event, context):
    STATE["count"] += 1
    return {"path": sys.path[:3], "pythonpath": os.environ.get("PYTHONPATH"),
            "count": STATE["count"], "cwd": os.getcwd(), "layer": __import__("layer_mod").X}
'''


def test_sys_path_pythonpath_and_warm_state(api: RuntimeApi, start: Start, tmp_path: Path) -> None:
    rt = start({"handler.py": SYS_PATH_HANDLER, "layer_mod.py": "X = 1\n"})
    first = api.invoke().json()
    second = api.invoke().json()
    assert isinstance(first, dict) and isinstance(second, dict)
    minor = DEFAULT_RUNTIME.removeprefix("python")
    assert first["path"] == [str(rt.task), f"/opt/python/lib/python{minor}/site-packages",
                             "/opt/python"]
    assert first["pythonpath"] == str(BOOTSTRAP_DIR)
    assert first["cwd"] == str(rt.task)
    assert (first["count"], second["count"]) == (1, 2)


def test_cold_start_reaches_next_quickly(api: RuntimeApi, start: Start) -> None:
    """Not a benchmark (see bench/): a sanity bound on process start → first /next."""
    rt = start({"handler.py": ECHO})
    assert api.invoke().kind == "response"
    elapsed = api.next_times[0] - rt.started
    print(f"\n{DEFAULT_RUNTIME}: process start -> first /next {elapsed * 1000:.1f} ms")
    assert elapsed < 5.0


def test_family_launch_shape() -> None:
    launch = PythonFamily().launch(LaunchContext(DEFAULT_RUNTIME, "h.h", Path("/tmp"), None))
    assert launch.argv[1:] == ["-u", "-s", "/var/runtime/bootstrap.py"]
    assert Path(launch.argv[0]).is_file()
    assert launch.runtime_dir == BOOTSTRAP_DIR
    assert "PYTHONPATH" not in launch.env
    from lamina.runtimes.python import SDK_TARGET
    interpreter_mounts = [m for m in launch.mounts if m.target != SDK_TARGET]
    for mount in interpreter_mounts:       # the interpreter's prefix, at its host path
        assert str(mount.source) == mount.target
        assert Path(launch.argv[0]).is_relative_to(mount.source)
    sdk = [m for m in launch.mounts if m.target == SDK_TARGET]
    assert len(sdk) == 1 and (sdk[0].source / "boto3" / "__init__.py").is_file()
    assert sys.version_info >= (3, 10)


def test_chunked_events_and_closed_connections(api: RuntimeApi, start: Start) -> None:
    api.chunked_next = True
    api.close_after_post = True
    start({"handler.py": ECHO})
    big = {"data": "x" * 300_000, "n": list(range(1000))}
    for event in ({"a": 1}, big, {"b": 2}):
        assert api.invoke(event).json() == event
    assert len(api.peers) >= 3, "a new connection after each Connection: close"

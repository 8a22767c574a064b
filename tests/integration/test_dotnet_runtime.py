"""Lamina's .NET runtime (Mono) against a real Runtime API server and a real compiled function.

The function in tests/fixtures/dotnet is compiled here with mcs against Lamina's own
Amazon.Lambda.Core and serializer assemblies, and laid out as a publish folder (the
function's dll plus those two). The host runs as a plain subprocess (no sandbox):
LAMBDA_TASK_ROOT and LAMBDA_RUNTIME_DIR point at host folders. The Runtime API stub is the
same as in test_java_runtime.py (kept local so each runtime's tests stand alone).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from lamina.runtimes.base import LaunchContext, LaunchError
from lamina.runtimes.dotnet import FAMILY_CLASS, DotnetFamily

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "dotnet"
PREFIX = "/2018-06-01/runtime"
pytestmark = pytest.mark.skipif(shutil.which("mono") is None or shutil.which("mcs") is None,
                                reason="Mono (mono-complete) is not installed")


# --------------------------------------------------------------------------- Runtime API stub


@dataclass
class Outcome:
    kind: str                       # "response", "error" or "init_error"
    body: bytes
    error_type: str | None = None
    seconds: float = 0.0

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class RuntimeApiStub:
    """A minimal Runtime API (next/response/error/init-error) on 127.0.0.1, in its own thread."""

    port: int = 0
    first_next_at: float | None = None
    init_error: Outcome | None = None
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _pending: dict[str, asyncio.Future[Outcome]] = field(default_factory=dict)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)

    async def _serve(self) -> None:
        self._queue: asyncio.Queue[tuple[str, bytes, dict[str, str]] | None] = asyncio.Queue()
        self._init_failed = asyncio.Event()
        app = web.Application()
        app.router.add_get(PREFIX + "/invocation/next", self._next)
        app.router.add_post(PREFIX + "/invocation/{id}/response", self._result)
        app.router.add_post(PREFIX + "/invocation/{id}/error", self._result)
        app.router.add_post(PREFIX + "/init/error", self._init_error)
        self._runner = web.AppRunner(app, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _next(self, request: web.Request) -> web.Response:
        if self.first_next_at is None:
            self.first_next_at = time.monotonic()
        item = await self._queue.get()
        if item is None:  # stop(): release the runtime's long poll so the server can close
            return web.Response(status=410)
        request_id, body, headers = item
        return web.Response(body=body, headers={"Lambda-Runtime-Aws-Request-Id": request_id, **headers})

    async def _result(self, request: web.Request) -> web.Response:
        kind = "error" if request.path.endswith("/error") else "response"
        outcome = Outcome(kind, await request.read(), request.headers.get("Lambda-Runtime-Function-Error-Type"))
        future = self._pending.pop(request.match_info["id"], None)
        if future is not None and not future.done():
            future.set_result(outcome)
        return web.json_response({"status": "OK"}, status=202)

    async def _init_error(self, request: web.Request) -> web.Response:
        self.init_error = Outcome("init_error", await request.read(),
                                  request.headers.get("Lambda-Runtime-Function-Error-Type"))
        for future in self._pending.values():
            if not future.done():
                future.set_result(self.init_error)
        self._init_failed.set()
        return web.json_response({"status": "OK"}, status=202)

    async def _invoke(self, body: bytes, headers: dict[str, str]) -> Outcome:
        request_id = str(uuid.uuid4())
        future: asyncio.Future[Outcome] = self._loop.create_future()
        self._pending[request_id] = future
        started = time.monotonic()
        await self._queue.put((request_id, body, headers))
        outcome = await future
        outcome.seconds = time.monotonic() - started
        return outcome

    def invoke(self, body: bytes | str, timeout: float = 20, deadline_s: float = 30, **headers: str) -> Outcome:
        data = body.encode() if isinstance(body, str) else body
        hdrs = {
            "Lambda-Runtime-Deadline-Ms": str(int((time.time() + deadline_s) * 1000)),
            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
            "Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            **{k.replace("_", "-"): v for k, v in headers.items()},
        }
        return asyncio.run_coroutine_threadsafe(self._invoke(data, hdrs), self._loop).result(timeout)

    def wait_init_error(self, timeout: float = 20) -> Outcome:
        asyncio.run_coroutine_threadsafe(asyncio.wait_for(self._init_failed.wait(), timeout), self._loop).result()
        assert self.init_error is not None
        return self.init_error

    def stop(self) -> None:
        async def shutdown() -> None:
            await self._queue.put(None)
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def family() -> DotnetFamily:
    """The family as the server builds it (compiled runtime cached in ~/.cache/lamina)."""
    return FAMILY_CLASS({})


@pytest.fixture(scope="module")
def function_dir(family: DotnetFamily, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Functions.dll compiled against our assemblies, published beside copies of them."""
    core, serializer = family.reference_assemblies()
    code = tmp_path_factory.mktemp("task")
    subprocess.run(["mcs", "-target:library", "-debug", "-nologo", f"-out:{code / 'Functions.dll'}",
                    f"-r:{core}", f"-r:{serializer}", str(FIXTURE / "Functions.cs")], check=True, timeout=120)
    shutil.copy(core, code)
    shutil.copy(serializer, code)
    return code


@dataclass
class Running:
    stub: RuntimeApiStub
    process: subprocess.Popen[bytes]
    log_path: Path
    started_at: float

    def log(self) -> str:
        return self.log_path.read_text()


@pytest.fixture
def start(family: DotnetFamily, function_dir: Path, tmp_path: Path) -> Iterator[object]:
    """start(method, runtime="dotnet8") → the host running Functions::Example.Functions::<method>."""
    running: list[Running] = []

    def _start(method: str, runtime: str = "dotnet8", memory: int = 256, handler: str | None = None) -> Running:
        handler = handler or f"Functions::Example.Functions::{method}"
        stub = RuntimeApiStub()
        stub.start()
        launch = family.launch(LaunchContext(runtime, handler, function_dir, None))
        assert launch.runtime_dir is not None
        argv = [a.replace("/var/runtime", str(launch.runtime_dir)) for a in launch.argv]
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{stub.port}",
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": str(function_dir),
            "LAMBDA_RUNTIME_DIR": str(launch.runtime_dir),
            "AWS_LAMBDA_FUNCTION_NAME": "fn",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]0123456789abcdef",
            "AWS_REGION": "us-east-1",
            "TZ": ":UTC",
            **launch.env,
        }
        log_path = tmp_path / f"log-{len(running)}.txt"
        with open(log_path, "wb") as log:
            started = time.monotonic()
            proc = subprocess.Popen(argv, env=env, cwd=function_dir, stdout=log, stderr=subprocess.STDOUT)
        r = Running(stub, proc, log_path, started)
        running.append(r)
        return r

    yield _start
    for r in running:
        if r.process.poll() is None:
            r.process.kill()
        r.process.wait()
        r.stub.stop()


ORDER = {"orderId": "o-1", "quantity": 2, "price": 1.5, "express": True, "unknown": [1, 2],
         "placedAt": "2024-03-01T10:00:00Z",
         "items": [{"sku": "a", "count": 1}, {"Sku": "b", "Count": 3}], "tags": {"shop": "x"}}
RECEIPT = {"OrderId": "o-1", "Total": 17.0, "Skus": ["a@x", "b@x"], "Paid": True, "PlacedDay": "2024-03-01"}


# --------------------------------------------------------------------------- tests


def cpu_ms(pid: int) -> float:
    """CPU time (user + system) a process has used so far: a start-up cost that, unlike wall
    time, does not depend on what else the machine is running."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def test_family_builds_once_and_launches(family: DotnetFamily, function_dir: Path) -> None:
    assert family.runtime_ids() == ("dotnet8", "dotnet10")
    built = family.prepare()
    assert (built / "LaminaHost.exe").exists() and (built / "Amazon.Lambda.Core.dll").exists()
    assert FAMILY_CLASS({}).prepare() == built  # cached by source hash
    assert set(family.substitutions()) == {"dotnet8", "dotnet10"}
    launch = family.launch(LaunchContext("dotnet10", "Functions::Example.Functions::Hello", function_dir, None))
    assert launch.argv[:2] == ["/bin/sh", "/var/runtime/bootstrap"]
    with pytest.raises(LaunchError):
        family.launch(LaunchContext("dotnet6", "x", function_dir, None))
    with pytest.raises(LaunchError):
        FAMILY_CLASS({"mono": "/nonexistent/mono"}).launch(LaunchContext("dotnet8", "x", function_dir, None))


def test_echo_logs_and_static_state(start: object) -> None:
    r = start("Hello")  # type: ignore[operator]
    first = r.stub.invoke(json.dumps({"name": "Ada"}))
    cold = r.stub.first_next_at - r.started_at
    cold_cpu = cpu_ms(r.process.pid)
    assert first.kind == "response", first
    text = first.json()
    assert text.startswith("Hello, Ada! invocation 1 loaded ")
    warm = [r.stub.invoke(json.dumps({"name": "Bob"})) for _ in range(20)]
    assert warm[-1].json().startswith("Hello, Bob! invocation 21 loaded ")
    assert warm[-1].json().split(" loaded ")[1] == text.split(" loaded ")[1]
    log = r.log()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t[0-9a-f-]{36}\t"
    assert re.search(stamp + r"info\tcontext logger: Ada\n", log), log
    assert re.search(stamp + r"info\twith a level\n", log)
    assert re.search(stamp + r"info\tstatic logger: [0-9a-f-]{36}\n", log)
    assert re.search(stamp + r"info\tstdout line\n", log)
    assert re.search(stamp + r"fail\tstderr line\n", log)
    warm_ms = statistics.median(o.seconds for o in warm) * 1000
    print(f"\n[dotnet8/mono] cold start (spawn → first /next): {cold * 1000:.0f} ms; "
          f"first invoke {first.seconds * 1000:.1f} ms ({cold_cpu:.0f} ms CPU); warm invoke median {warm_ms:.2f} ms")
    assert cold < 10 and warm_ms < 100


@pytest.mark.parametrize("method", ["Pojo", "PojoAsync"])
def test_poco_mapping_sync_and_async(start: object, method: str) -> None:
    r = start(method)  # type: ignore[operator]
    out = r.stub.invoke(json.dumps(ORDER))
    assert out.kind == "response", out
    assert out.json() == RECEIPT


def test_stream_in_and_out(start: object) -> None:
    r = start("Upper")  # type: ignore[operator]
    out = r.stub.invoke(b"plain text, not json")
    assert (out.kind, out.body) == ("response", b"<PLAIN TEXT, NOT JSON>")


def test_task_without_result_sends_empty_response(start: object) -> None:
    r = start("Nothing")  # type: ignore[operator]
    out = r.stub.invoke(b"{}")
    assert (out.kind, out.body) == ("response", b"")
    assert "\tinfo\tdid nothing\n" in r.log()


def test_context_fields_and_remaining_time(start: object) -> None:
    r = start("Describe", memory=512)  # type: ignore[operator]
    client_context = {"client": {"installation_id": "i-1", "app_title": "Demo", "app_version_name": "1.0",
                                 "app_version_code": "1", "app_package_name": "com.demo"},
                      "custom": {"k": "v"}, "env": {"platform": "Android"}}
    out = r.stub.invoke(
        json.dumps({"a": [1, 2.5, None, True]}), deadline_s=3,
        Lambda_Runtime_Client_Context=json.dumps(client_context),
        Lambda_Runtime_Cognito_Identity=json.dumps({"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool"}),
    )
    assert out.kind == "response", out
    info = out.json()
    assert len(info["awsRequestId"]) == 36
    assert (info["functionName"], info["functionVersion"]) == ("fn", "$LATEST")
    assert info["invokedFunctionArn"] == "arn:aws:lambda:us-east-1:123456789012:function:fn"
    assert info["memoryLimitInMB"] == 512
    assert (info["logGroupName"], info["logStreamName"][:11]) == ("/aws/lambda/fn", "2024/01/01/")
    assert (info["identityId"], info["appTitle"], info["custom"]) == ("id-1", "Demo", {"k": "v"})
    assert info["traceId"].startswith("Root=1-5759e988")
    assert 2000 < info["remainingBefore"] <= 3000
    assert info["remainingBefore"] - info["remainingAfter"] >= 45
    assert info["input"] == {"a": [1, 2.5, None, True]}


def test_exception_error_shape_and_host_survives(start: object) -> None:
    r = start("Boom")  # type: ignore[operator]
    for _ in range(2):
        out = r.stub.invoke(json.dumps({"why": "testing"}))
        assert (out.kind, out.error_type) == ("error", "InvalidOperationException")
        err = out.json()
        assert (err["errorType"], err["errorMessage"]) == ("InvalidOperationException", "boom: testing")
        assert any("Example.Functions.Boom" in f for f in err["stackTrace"])
        assert not any("Lamina.Runtime" in f or "System.Reflection" in f for f in err["stackTrace"])
        assert err["cause"]["errorType"] == "ArgumentException"
        assert "Functions.cs:" in err["cause"]["stackTrace"][0]  # line numbers from the .pdb
    assert r.process.poll() is None
    assert "\tfail\tSystem.InvalidOperationException: boom: testing" in r.log()


def test_async_exception_is_unwrapped(start: object) -> None:
    r = start("BoomAsync")  # type: ignore[operator]
    out = r.stub.invoke(b"{}")
    assert (out.kind, out.error_type) == ("error", "TimeoutException")
    assert out.json()["errorMessage"] == "async boom"


def test_bad_payload_for_poco(start: object) -> None:
    r = start("Pojo")  # type: ignore[operator]
    out = r.stub.invoke("{not json")
    err = out.json()
    assert (out.kind, err["errorType"]) == ("error", "JsonSerializerException")
    assert err["errorMessage"].startswith("Error converting the Lambda event JSON payload to type Example.Order")


def test_missing_type_is_an_init_error(start: object) -> None:
    r = start("", handler="Functions::Example.Nope::Handle")  # type: ignore[operator]
    err = r.stub.wait_init_error()
    assert err.error_type is None
    assert err.json()["errorType"] == "LambdaValidationException"
    assert err.json()["errorMessage"] == "Unable to load type 'Example.Nope' from assembly 'Functions'."
    assert r.process.wait(timeout=10) == 1


def test_constructor_failure_is_an_init_error(start: object) -> None:
    r = start("", handler="Functions::Example.BadInit::Handle")  # type: ignore[operator]
    err = r.stub.wait_init_error().json()
    assert (err["errorType"], err["errorMessage"]) == ("InvalidOperationException", "missing configuration TABLE_NAME")
    assert any("Example.BadInit..ctor" in f for f in err["stackTrace"])
    assert r.process.wait(timeout=10) == 1


# --------------------------------------------------------------------------- through Lamina


def test_through_the_server_in_a_sandbox(create_function, lambda_client, function_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """CreateFunction with the published folder, then Invoke: the real pool and sandbox backend."""
    files = {p.name: p.read_bytes() for p in sorted(function_dir.iterdir()) if p.is_file()}
    name = f"dotnet8-{uuid.uuid4().hex[:8]}"
    create_function(name, files, runtime="dotnet8", handler="Functions::Example.Functions::PojoAsync",
                    MemorySize=256, Timeout=60)
    resp = lambda_client.invoke(FunctionName=name, Payload=json.dumps(ORDER))
    assert "FunctionError" not in resp, resp["Payload"].read()
    assert json.load(resp["Payload"]) == RECEIPT

    boom = f"dotnet8-boom-{uuid.uuid4().hex[:8]}"
    create_function(boom, files, runtime="dotnet10", handler="Functions::Example.Functions::Boom",
                    MemorySize=256, Timeout=60)
    failed = lambda_client.invoke(FunctionName=boom, Payload=json.dumps({"why": "sandboxed"}), LogType="Tail")
    assert failed["FunctionError"] == "Unhandled"
    error = json.load(failed["Payload"])
    assert (error["errorType"], error["errorMessage"]) == ("InvalidOperationException", "boom: sandboxed")
    assert "System.InvalidOperationException: boom: sandboxed" in base64.b64decode(failed["LogResult"]).decode()

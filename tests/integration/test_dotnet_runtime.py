"""Lamina's .NET runtime (Mono) against a real Runtime API server and a real compiled function.

The function in tests/fixtures/dotnet is compiled here with mcs against Lamina's own
Amazon.Lambda.Core and serializer assemblies, and laid out as a publish folder (the
function's dll plus those two). The host runs as a plain subprocess (no sandbox):
LAMBDA_TASK_ROOT and LAMBDA_RUNTIME_DIR point at host folders. The Runtime API server is
tests/runtime_stub.py, shared with the other runtimes' tests.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import statistics
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.runtimes.base import LaunchContext, LaunchError
from lamina.runtimes.dotnet import FAMILY_CLASS, DotnetFamily
from tests.runtime_stub import Launcher, Proc, RuntimeApi

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "dotnet"
pytestmark = pytest.mark.skipif(shutil.which("mono") is None or shutil.which("mcs") is None,
                                reason="Mono (mono-complete) is not installed")


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


@pytest.fixture
def api() -> Iterator[RuntimeApi]:
    with RuntimeApi() as server:
        yield server


@pytest.fixture
def start(api: RuntimeApi, family: DotnetFamily, function_dir: Path, tmp_path: Path) -> Iterator[object]:
    """start(method, runtime="dotnet8") → the host running Functions::Example.Functions::<method>."""
    launcher = Launcher(api, tmp_path)

    def _start(method: str, runtime: str = "dotnet8", memory: int = 256, handler: str | None = None) -> Proc:
        ctx = LaunchContext(runtime, handler or f"Functions::Example.Functions::{method}", function_dir, None)
        return launcher.start(ctx, family.launch(ctx), memory, {"HOME": str(tmp_path)})

    yield _start
    launcher.kill_all()


ORDER = {"orderId": "o-1", "quantity": 2, "price": 1.5, "express": True, "unknown": [1, 2],
         "placedAt": "2024-03-01T10:00:00Z",
         "items": [{"sku": "a", "count": 1}, {"Sku": "b", "Count": 3}], "tags": {"shop": "x"}}
RECEIPT = {"OrderId": "o-1", "Total": 17.0, "Skus": ["a@x", "b@x"], "Paid": True, "PlacedDay": "2024-03-01"}


# --------------------------------------------------------------------------- tests


def test_family_builds_once_and_launches(family: DotnetFamily, function_dir: Path) -> None:
    assert family.runtime_ids() == ("dotnet6", "dotnet8", "dotnet10")
    built = family.prepare()
    assert (built / "LaminaHost.exe").exists() and (built / "Amazon.Lambda.Core.dll").exists()
    assert FAMILY_CLASS({}).prepare() == built  # cached by source hash
    assert set(family.substitutions()) == {"dotnet6", "dotnet8", "dotnet10"}
    launch = family.launch(LaunchContext("dotnet10", "Functions::Example.Functions::Hello", function_dir, None))
    assert launch.argv[:2] == ["/bin/sh", "/var/runtime/bootstrap"]
    with pytest.raises(LaunchError):     # retired long ago: not served
        family.launch(LaunchContext("dotnetcore3.1", "x", function_dir, None))
    with pytest.raises(LaunchError):
        FAMILY_CLASS({"mono": "/nonexistent/mono"}).launch(LaunchContext("dotnet8", "x", function_dir, None))


def test_echo_logs_and_static_state(api: RuntimeApi, start: object) -> None:
    r = start("Hello")  # type: ignore[operator]
    first = api.invoke({"name": "Ada"})
    cold = api.first_next_at - r.started
    cold_cpu = r.cpu_ms()
    assert first.kind == "response", first
    text = first.json()
    assert text.startswith("Hello, Ada! invocation 1 loaded ")
    warm = [api.invoke({"name": "Bob"}) for _ in range(20)]
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
def test_poco_mapping_sync_and_async(api: RuntimeApi, start: object, method: str) -> None:
    start(method)  # type: ignore[operator]
    out = api.invoke(ORDER)
    assert out.kind == "response", out
    assert out.json() == RECEIPT


def test_stream_in_and_out(api: RuntimeApi, start: object) -> None:
    start("Upper")  # type: ignore[operator]
    out = api.invoke(b"plain text, not json")
    assert (out.kind, out.body) == ("response", b"<PLAIN TEXT, NOT JSON>")


def test_task_without_result_sends_empty_response(api: RuntimeApi, start: object) -> None:
    r = start("Nothing")  # type: ignore[operator]
    out = api.invoke(b"{}")
    assert (out.kind, out.body) == ("response", b"")
    assert "\tinfo\tdid nothing\n" in r.log()


def test_context_fields_and_remaining_time(api: RuntimeApi, start: object) -> None:
    start("Describe", memory=512)  # type: ignore[operator]
    client_context = {"client": {"installation_id": "i-1", "app_title": "Demo", "app_version_name": "1.0",
                                 "app_version_code": "1", "app_package_name": "com.demo"},
                      "custom": {"k": "v"}, "env": {"platform": "Android"}}
    out = api.invoke({"a": [1, 2.5, None, True]}, deadline_s=3, headers={
        "Lambda-Runtime-Client-Context": json.dumps(client_context),
        "Lambda-Runtime-Cognito-Identity": json.dumps({"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool"}),
    })
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


def test_exception_error_shape_and_host_survives(api: RuntimeApi, start: object) -> None:
    r = start("Boom")  # type: ignore[operator]
    for _ in range(2):
        out = api.invoke({"why": "testing"})
        assert (out.kind, out.error_type) == ("error", "InvalidOperationException")
        err = out.json()
        assert (err["errorType"], err["errorMessage"]) == ("InvalidOperationException", "boom: testing")
        assert any("Example.Functions.Boom" in f for f in err["stackTrace"])
        assert not any("Lamina.Runtime" in f or "System.Reflection" in f for f in err["stackTrace"])
        assert err["cause"]["errorType"] == "ArgumentException"
        assert "Functions.cs:" in err["cause"]["stackTrace"][0]  # line numbers from the .pdb
    assert r.process.poll() is None
    assert "\tfail\tSystem.InvalidOperationException: boom: testing" in r.log()


def test_async_exception_is_unwrapped(api: RuntimeApi, start: object) -> None:
    start("BoomAsync")  # type: ignore[operator]
    out = api.invoke(b"{}")
    assert (out.kind, out.error_type) == ("error", "TimeoutException")
    assert out.json()["errorMessage"] == "async boom"


def test_bad_payload_for_poco(api: RuntimeApi, start: object) -> None:
    start("Pojo")  # type: ignore[operator]
    out = api.invoke(b"{not json")
    err = out.json()
    assert (out.kind, err["errorType"]) == ("error", "JsonSerializerException")
    assert err["errorMessage"].startswith("Error converting the Lambda event JSON payload to type Example.Order")


def test_missing_type_is_an_init_error(api: RuntimeApi, start: object) -> None:
    r = start("", handler="Functions::Example.Nope::Handle")  # type: ignore[operator]
    err = api.wait_init_error()
    assert err.error_type is None
    assert err.json()["errorType"] == "LambdaValidationException"
    assert err.json()["errorMessage"] == "Unable to load type 'Example.Nope' from assembly 'Functions'."
    assert r.process.wait(timeout=10) == 1


def test_constructor_failure_is_an_init_error(api: RuntimeApi, start: object) -> None:
    r = start("", handler="Functions::Example.BadInit::Handle")  # type: ignore[operator]
    err = api.wait_init_error().json()
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

"""Lamina's Java runtime against a real Runtime API server and a real Maven-built function.

The function in tests/fixtures/java is compiled against the real aws-lambda-java-core and
aws-lambda-java-events from Maven Central and packaged the AWS way (classes + lib/*.jar).
The runtime runs as a plain subprocess (no sandbox): LAMBDA_TASK_ROOT and LAMBDA_RUNTIME_DIR
point at host folders instead of /var/task and /var/runtime. The Runtime API server is
tests/runtime_stub.py, shared with the other runtimes' tests.
"""

from __future__ import annotations

import base64
import json
import shutil
import statistics
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.runtimes.base import LaunchContext, LaunchError
from lamina.runtimes.java import FAMILY_CLASS, JavaFamily
from tests.runtime_stub import Launcher, Proc, RuntimeApi

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "java"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def function_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture function built by Maven and laid out like an unzipped AWS Java package."""
    if shutil.which("mvn") is None:
        pytest.skip("mvn is not installed")
    build = tmp_path_factory.mktemp("mvn")
    shutil.copytree(FIXTURE, build, dirs_exist_ok=True, ignore=shutil.ignore_patterns("target"))
    done = subprocess.run(["mvn", "-q", "-B", "-Dstyle.color=never", "package"], cwd=build,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"mvn package failed:\n{done.stdout[-4000:]}{done.stderr[-4000:]}"
    code = tmp_path_factory.mktemp("task")
    shutil.copytree(build / "target" / "classes", code, dirs_exist_ok=True)
    shutil.copytree(build / "target" / "lib", code / "lib")
    return code


@pytest.fixture(scope="module")
def family() -> JavaFamily:
    """The family as the server builds it (compiled runtime cached in ~/.cache/lamina)."""
    return FAMILY_CLASS({})


@pytest.fixture
def api() -> Iterator[RuntimeApi]:
    with RuntimeApi() as server:
        yield server


@pytest.fixture
def start(api: RuntimeApi, family: JavaFamily, function_dir: Path, tmp_path: Path) -> Iterator[object]:
    """start(handler, runtime="java17") → a Proc: the runtime process talking to `api`."""
    launcher = Launcher(api, tmp_path)

    def _start(handler: str, runtime: str = "java17", memory: int = 256, **extra_env: str) -> Proc:
        ctx = LaunchContext(runtime, handler, function_dir, None)
        env = {"LAMINA_OPT_DIR": str(tmp_path / "opt"), **extra_env}
        return launcher.start(ctx, family.launch(ctx), memory, env)

    yield _start
    launcher.kill_all()


# --------------------------------------------------------------------------- tests


def test_family_selects_jdks_and_builds_once(family: JavaFamily, function_dir: Path) -> None:
    assert set(family.runtime_ids()) == {"java8.al2", "java11", "java17", "java21", "java25"}
    assert family.jdk_for("java17").major == 17
    assert family.jdk_for("java8.al2").major >= 17
    first = family.prepare()
    assert (first / "bootstrap.jar").exists() and (first / "bootstrap").exists()
    assert FAMILY_CLASS({}).prepare() == first  # cached by source hash, not rebuilt
    launch = family.launch(LaunchContext("java11", "example.Hello", function_dir, None))
    java, jar, archive, handler = launch.argv[2:]
    assert launch.argv[:2] == ["/bin/sh", "/var/runtime/bootstrap"] and handler == "example.Hello"
    assert Path(java).resolve().is_relative_to(family.jdk_for("java11").home)
    if first.is_relative_to("/tmp"):  # a sandbox hides its host path: no CDS, jar at /var/runtime
        assert (jar, archive, launch.mounts) == ("/var/runtime/bootstrap.jar", "", ())
        return
    # The CDS archive names the jar by its host path, so the build folder is mounted there too.
    assert archive.endswith(".jsa") and Path(archive).exists()
    assert {str(m.source) for m in launch.mounts} == {str(first), str(Path(archive).parent)}
    assert all(str(m.source) == m.target for m in launch.mounts)
    jvm = subprocess.run([java, "-Xshare:on", f"-XX:SharedArchiveFile={archive}", "-cp", jar,
                          "lamina.runtime.Main"], capture_output=True, text=True, timeout=60, check=False)
    assert "AWS_LAMBDA_RUNTIME_API and a handler are required" in jvm.stderr  # archive accepted
    with pytest.raises(LaunchError):
        family.launch(LaunchContext("java7", "example.Hello", function_dir, None))
    with pytest.raises(LaunchError):
        FAMILY_CLASS({"java17": "/nonexistent/bin/java"}).launch(
            LaunchContext("java17", "example.Hello", function_dir, None))


@pytest.mark.parametrize("runtime", ["java17", "java25"])
def test_echo_logs_and_static_state(api: RuntimeApi, start: object, runtime: str, family: JavaFamily) -> None:
    if runtime == "java25" and family.jdk_for("java25").major < 25:
        pytest.skip("no JDK 25 on this host")
    r = start("example.Hello", runtime)  # type: ignore[operator]
    first = api.invoke({"name": "Ada"})
    cold = api.first_next_at - r.started
    cold_cpu = r.cpu_ms()
    assert first.kind == "response", first
    text = first.json()
    assert text.startswith("Hello, Ada! invocation 1 loaded ")
    warm = [api.invoke({"name": "Bob"}) for _ in range(20)]
    assert warm[-1].json().startswith("Hello, Bob! invocation 21 loaded ")
    assert warm[-1].json().split(" loaded ")[1] == text.split(" loaded ")[1]  # same static init
    log = r.log()
    assert "context logger: Ada\n" in log
    assert "runtime logger: " in log
    assert "stdout: {name=Ada}" in log
    assert "stderr line" in log
    warm_ms = statistics.median(o.seconds for o in warm) * 1000
    print(f"\n[{runtime}] cold start (spawn → first /next): {cold * 1000:.0f} ms; "
          f"first invoke {first.seconds * 1000:.1f} ms ({cold_cpu:.0f} ms CPU); warm invoke median {warm_ms:.2f} ms")
    assert cold < 10 and warm_ms < 100


def test_json_log_format(api: RuntimeApi, start: object) -> None:
    r = start("example.Hello", AWS_LAMBDA_LOG_FORMAT="JSON")  # type: ignore[operator]
    out = api.invoke({"name": "Ada"})
    assert out.kind == "response", out
    records = [json.loads(line) for line in r.log().splitlines() if line.startswith("{")]
    mine = [rec for rec in records if rec["message"] == "context logger: Ada"]
    assert len(mine) == 1 and mine[0]["level"] == "UNDEFINED"
    assert set(mine[0]) == {"timestamp", "level", "message", "AWSRequestId"}


def test_pojo_mapping(api: RuntimeApi, start: object) -> None:
    start("example.PojoHandler")  # type: ignore[operator]
    event = {"orderId": "o-1", "quantity": 2, "price": 1.5, "express": True, "unknown": [1, 2],
             "items": [{"sku": "a", "count": 1}, {"sku": "b", "count": 3}], "tags": {"shop": "x"}}
    out = api.invoke(event)
    assert out.kind == "response", out
    assert out.json() == {"orderId": "o-1", "total": 17.0, "skus": ["a@x", "b@x"], "paid": True}


def test_stream_handler_gets_raw_bytes(api: RuntimeApi, start: object) -> None:
    start("example.Upper")  # type: ignore[operator]
    out = api.invoke(b"plain text, not json")
    assert (out.kind, out.body) == ("response", b"<PLAIN TEXT, NOT JSON>")


def test_sqs_event_binds_through_setters(api: RuntimeApi, start: object) -> None:
    r = start("example.SqsHandler")  # type: ignore[operator]

    def record(mid: str, body: str) -> dict[str, object]:
        return {"messageId": mid, "receiptHandle": "AQEB", "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183"},
                "messageAttributes": {"color": {"stringValue": "blue", "dataType": "String",
                                                "stringListValues": [], "binaryListValues": []}},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue", "awsRegion": "us-east-2"}

    out = api.invoke({"Records": [record("m1", "ok"), record("m2", "please fail")]})
    assert out.kind == "response", out
    assert out.json() == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert "m1 arn:aws:sqs:us-east-2:123456789012:my-queue 1 blue" in r.log()


def test_context_fields_and_remaining_time(api: RuntimeApi, start: object) -> None:
    start("example.ContextInfo::describe", memory=512)  # type: ignore[operator]
    client_context = {"client": {"installation_id": "i-1", "app_title": "Demo", "app_version_name": "1.0",
                                 "app_version_code": "1", "app_package_name": "com.demo"},
                      "custom": {"k": "v"}, "env": {"platform": "Android"}}
    out = api.invoke({"a": [1, 2.5, None, True]}, deadline_s=3, headers={
        "Lambda-Runtime-Client-Context": json.dumps(client_context),
        "Lambda-Runtime-Cognito-Identity": json.dumps({"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool"}),
    })
    assert out.kind == "response", out
    info = out.json()
    assert info["awsRequestId"] and len(info["awsRequestId"]) == 36
    assert info["functionName"] == "fn" and info["functionVersion"] == "$LATEST"
    assert info["invokedFunctionArn"] == "arn:aws:lambda:us-east-1:123456789012:function:fn"
    assert info["memoryLimitInMB"] == 512
    assert info["logGroupName"] == "/aws/lambda/fn"
    assert info["logStreamName"].startswith("2024/01/01/")
    assert (info["identityId"], info["appTitle"], info["custom"]) == ("id-1", "Demo", {"k": "v"})
    assert info["traceHeader"].startswith("Root=1-5759e988")
    assert 2000 < info["remainingBefore"] <= 3000
    assert info["remainingBefore"] - info["remainingAfter"] >= 45
    assert info["event"] == {"a": [1, 2.5, None, True]}
    assert 380 <= info["maxHeapMB"] <= 436  # -Xmx is 85% of the 512 MB memory size


def test_java_tool_options_replace_our_heap_setting(api: RuntimeApi, start: object) -> None:
    r = start("example.ContextInfo::describe", memory=512, JAVA_TOOL_OPTIONS="-Xmx64m")  # type: ignore[operator]
    out = api.invoke({})
    assert out.kind == "response", out
    assert 50 <= out.json()["maxHeapMB"] <= 64
    assert "Picked up JAVA_TOOL_OPTIONS: -Xmx64m" in r.log()  # as on AWS


def test_static_method_with_typed_array(api: RuntimeApi, start: object) -> None:
    start("example.ContextInfo::add")  # type: ignore[operator]
    out = api.invoke([1, 2, 39])
    assert (out.kind, out.json()) == ("response", 42)


def test_exception_error_shape_and_runtime_survives(api: RuntimeApi, start: object) -> None:
    r = start("example.Boom::handleRequest")  # type: ignore[operator]
    for _ in range(2):
        out = api.invoke({"why": "testing"})
        assert (out.kind, out.error_type) == ("error", "Runtime.UserException")
        err = out.json()
        assert err["errorType"] == "java.lang.IllegalStateException"
        assert err["errorMessage"] == "boom: testing"
        assert err["stackTrace"][0].startswith("example.Boom.explode(Boom.java:")
        assert err["stackTrace"][-1].startswith("example.Boom.handleRequest(Boom.java:")
    assert r.process.poll() is None
    assert "boom: testing: java.lang.IllegalStateException" in r.log()


def test_unparseable_input_for_pojo(api: RuntimeApi, start: object) -> None:
    start("example.PojoHandler")  # type: ignore[operator]
    out = api.invoke(b"{not json")
    assert out.kind == "error"
    assert out.json() == {"errorMessage": "An error occurred during JSON parsing",
                          "errorType": "java.lang.RuntimeException", "stackTrace": []}


def test_class_not_found_is_reported_on_invoke(api: RuntimeApi, start: object) -> None:
    r = start("example.DoesNotExist")  # type: ignore[operator]
    out = api.invoke({})
    assert (out.kind, out.error_type) == ("error", "Runtime.BadFunctionCode")
    assert out.json() == {"errorMessage": "Class not found: example.DoesNotExist",
                          "errorType": "java.lang.ClassNotFoundException"}
    assert r.process.poll() is None  # as on AWS: not fatal, every invoke gets the same answer


def test_invalid_handler_string(api: RuntimeApi, start: object) -> None:
    start("example.Hello::")  # type: ignore[operator]
    out = api.invoke({})
    assert (out.kind, out.error_type) == ("error", "Runtime.BadFunctionCode")
    assert out.json() == {"errorMessage": "Invalid handler: `example.Hello::'"}


def test_constructor_failure_is_an_init_error(api: RuntimeApi, start: object) -> None:
    r = start("example.BadInit")  # type: ignore[operator]
    err = api.wait_init_error()
    assert err.error_type == "Runtime.BadFunctionCode"
    assert err.json() == {"errorMessage": "missing configuration TABLE_NAME",
                          "errorType": "java.lang.IllegalArgumentException"}
    assert r.process.wait(timeout=10) == 1
    assert "example.BadInit.<init>(BadInit.java:" in r.log()


# --------------------------------------------------------------------------- through Lamina


def task_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("runtime", ["java17", "java21"])
def test_through_the_server_in_a_sandbox(create_function, lambda_client, function_dir: Path,  # type: ignore[no-untyped-def]
                                         runtime: str) -> None:
    """CreateFunction with the Maven-built zip, then Invoke: the real pool and sandbox backend."""
    name = f"{runtime}-{uuid.uuid4().hex[:8]}"
    create_function(name, task_files(function_dir), runtime=runtime, handler="example.Hello",
                    MemorySize=256, Timeout=60)
    resp = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"name": "Ada"}), LogType="Tail")
    assert "FunctionError" not in resp, resp["Payload"].read()
    assert json.load(resp["Payload"]).startswith("Hello, Ada! invocation 1 ")
    log = base64.b64decode(resp["LogResult"]).decode()
    assert "context logger: Ada" in log and "stderr line" in log
    again = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"name": "Bob"}))
    assert json.load(again["Payload"]).startswith("Hello, Bob! invocation 2 ")  # the same warm JVM

    boom = f"{runtime}-boom-{uuid.uuid4().hex[:8]}"
    create_function(boom, task_files(function_dir), runtime=runtime, handler="example.Boom::handleRequest",
                    MemorySize=256, Timeout=60)
    failed = lambda_client.invoke(FunctionName=boom, Payload=json.dumps({"why": "sandboxed"}))
    assert failed["FunctionError"] == "Unhandled"
    error = json.load(failed["Payload"])
    assert (error["errorType"], error["errorMessage"]) == ("java.lang.IllegalStateException", "boom: sandboxed")

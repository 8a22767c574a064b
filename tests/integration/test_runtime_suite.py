"""One behaviour suite, run against every language runtime Lamina serves.

Each language ships a function with the same actions (echo, error, sleep, env,
context, state, layer, log) and an init-failing variant; the tests below run
the same checks through a real server and real sandboxes for each of them.

Compiled languages are built by the test and cached under $LAMINA_TEST_CACHE (default
/tmp/lamina-test-cache) by a digest of their fixture folder: Go (tests/fixtures/go-suite),
Java (tests/fixtures/java-suite: Maven against the real aws-lambda-java-core; the layer is a
jar in java/lib/) and C# (tests/fixtures/dotnet-suite: mcs against Lamina's Amazon.Lambda.Core;
AWS gives .NET layers no search path, so the function loads /opt/LaminaLayer.dll itself).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lamina.runtimes.build_cache import source_digest
from tests.conftest import ROLE, make_zip

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

PYTHON = '''
import os, time
COUNT = 0

def handler(event, context):
    global COUNT
    action = event["action"]
    if action == "echo":
        return event["data"]
    if action == "error":
        raise Exception("boom")
    if action == "sleep":
        time.sleep(event["seconds"])
        return "slept"
    if action == "env":
        return {k: os.environ.get(k) for k in event["keys"]}
    if action == "context":
        return {"function_name": context.function_name, "memory": str(context.memory_limit_in_mb),
                "remaining": context.get_remaining_time_in_millis(), "request_id": context.aws_request_id}
    if action == "state":
        COUNT += 1
        if event.get("write"):
            open("/tmp/state", "w").write(event["write"])
        return {"count": COUNT, "tmp": open("/tmp/state").read() if os.path.exists("/tmp/state") else None}
    if action == "layer":
        import lamina_layer
        return lamina_layer.VALUE
    if action == "log":
        print(event["text"])
        return "logged"
'''

NODE = '''
const fs = require("node:fs");
let count = 0;
exports.handler = async (event, context) => {
  switch (event.action) {
    case "echo": return event.data;
    case "error": throw new Error("boom");
    case "sleep": await new Promise((r) => setTimeout(r, event.seconds * 1000)); return "slept";
    case "env": return Object.fromEntries(event.keys.map((k) => [k, process.env[k] ?? null]));
    case "context": return {function_name: context.functionName, memory: String(context.memoryLimitInMB),
                            remaining: context.getRemainingTimeInMillis(), request_id: context.awsRequestId};
    case "state":
      count += 1;
      if (event.write) fs.writeFileSync("/tmp/state", event.write);
      return {count, tmp: fs.existsSync("/tmp/state") ? fs.readFileSync("/tmp/state", "utf8") : null};
    case "layer": return require("lamina_layer").VALUE;
    case "log": console.log(event.text); return "logged";
  }
};
'''

RUBY = '''
$count = 0

def handler(event:, context:)
  case event["action"]
  when "echo" then event["data"]
  when "error" then raise "boom"
  when "sleep" then sleep(event["seconds"]); "slept"
  when "env" then event["keys"].to_h { |k| [k, ENV[k]] }
  when "context"
    {"function_name" => context.function_name, "memory" => context.memory_limit_in_mb.to_s,
     "remaining" => context.get_remaining_time_in_millis, "request_id" => context.aws_request_id}
  when "state"
    $count += 1
    File.write("/tmp/state", event["write"]) if event["write"]
    {"count" => $count, "tmp" => File.exist?("/tmp/state") ? File.read("/tmp/state") : nil}
  when "layer"
    require "lamina_layer"
    LaminaLayer::VALUE
  when "log" then puts(event["text"]); "logged"
  end
end
'''


@dataclass
class Case:
    runtime: str
    handler: str
    files: Callable[[], dict[str, Any]]
    init_error_files: Callable[[], dict[str, Any]]
    layer: dict[str, Any] | Callable[[], dict[str, Any]]   # a callable when it must be built first
    error_type: str
    modes: dict[str, int] = field(default_factory=dict)
    needs: str | None = None            # an executable the host must have
    # The exact init-error body where the runtime's (like AWS's) leaves the cause's message out of
    # it; "init boom" must then be in the invoke's log tail instead.
    init_error: dict[str, Any] | None = None


def _go_bootstrap() -> bytes:
    cache = Path(os.environ.get("LAMINA_TEST_CACHE", "/tmp/lamina-test-cache")) / "go-suite"
    binary = cache / "bootstrap"
    source = (FIXTURES / "go-suite" / "main.go").read_bytes()
    stamp = cache / "source.main.go"
    if not binary.exists() or not stamp.exists() or stamp.read_bytes() != source:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.copytree(FIXTURES / "go-suite", cache)
        go = shutil.which("go") or "/usr/local/go/bin/go"
        subprocess.run([go, "build", "-tags", "lambda.norpc", "-o", "bootstrap", "."], cwd=cache, check=True,
                       env={**os.environ, "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "amd64",
                            "GOFLAGS": "-mod=mod"}, capture_output=True, timeout=600)
        stamp.write_bytes(source)
    return binary.read_bytes()


def _test_cache() -> Path:
    return Path(os.environ.get("LAMINA_TEST_CACHE", "/tmp/lamina-test-cache"))


def _cached_build(kind: str, key: str, build: Callable[[Path], None]) -> Path:
    """`build(folder)` once per digest of tests/fixtures/<kind> and `key`; later runs reuse it."""
    out = _test_cache() / kind / source_digest(FIXTURES / kind, key)
    if not (out / ".ready").exists():
        shutil.rmtree(out.parent, ignore_errors=True)  # builds of older fixture versions too
        out.mkdir(parents=True)
        build(out)
        (out / ".ready").write_text(key)
    return out


def _tree(root: Path) -> dict[str, bytes]:
    """Every file below `root`, by its path relative to it: a deployment package's contents."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _java_build() -> Path:
    """tests/fixtures/java-suite built by Maven (classes + lib/aws-lambda-java-core.jar, the AWS
    zip layout) into task/, and its init-failing twin (broken/, same class name) into broken/."""
    def build(out: Path) -> None:
        work = out / "mvn"
        shutil.copytree(FIXTURES / "java-suite", work)
        done = subprocess.run(["mvn", "-q", "-B", "-Dstyle.color=never", "compile"], cwd=work,
                              capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, f"mvn failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        shutil.copytree(work / "target" / "classes", out / "task")
        shutil.copytree(work / "target" / "lib", out / "task" / "lib")
        core = [str(j) for j in (work / "target" / "lib").glob("*.jar")]
        subprocess.run(["javac", "--release", "11", "-cp", ":".join(core), "-d", str(out / "broken"),
                        *map(str, (work / "broken").rglob("*.java"))], check=True, capture_output=True, timeout=300)
        shutil.copytree(work / "target" / "lib", out / "broken" / "lib")
        shutil.rmtree(work)
    return _cached_build("java-suite", "mvn compile; javac --release 11", build)


def _dotnet_build() -> Path:
    """tests/fixtures/dotnet-suite compiled with mcs against Lamina's Amazon.Lambda.Core and
    serializer, published beside copies of them: task/Suite.dll, broken/Suite.dll, LaminaLayer.dll."""
    from lamina.runtimes.dotnet import FAMILY_CLASS as DOTNET

    refs = DOTNET({}).reference_assemblies()
    src = FIXTURES / "dotnet-suite"

    def build(out: Path) -> None:
        for folder, source in (("task", "Handler.cs"), ("broken", "Broken.cs")):
            (out / folder).mkdir()
            subprocess.run(["mcs", "-target:library", "-debug", "-nologo", f"-out:{out / folder / 'Suite.dll'}",
                            *(f"-r:{r}" for r in refs), str(src / source)], check=True, capture_output=True, timeout=120)
            for ref in refs:
                shutil.copy(ref, out / folder)
        subprocess.run(["mcs", "-target:library", "-nologo", f"-out:{out / 'LaminaLayer.dll'}",
                        str(src / "LaminaLayer.cs")], check=True, capture_output=True, timeout=120)
    # Our reference assemblies are part of the key: a function must be rebuilt against new ones.
    return _cached_build("dotnet-suite", " ".join(str(r.parent) for r in refs), build)


CASES = [
    Case("python3.12", "handler.handler", lambda: {"handler.py": PYTHON},
         lambda: {"handler.py": "raise Exception('init boom')\n"},
         {"python/lamina_layer.py": "VALUE = 'from-layer'\n"}, "Exception"),
    Case("nodejs20.x", "index.handler", lambda: {"index.js": NODE},
         lambda: {"index.js": "throw new Error('init boom');\n"},
         {"nodejs/node_modules/lamina_layer/index.js": "exports.VALUE = 'from-layer';\n"}, "Error",
         needs="node"),
    Case("ruby3.3", "function.handler", lambda: {"function.rb": RUBY},
         lambda: {"function.rb": "raise 'init boom'\n"},
         {"ruby/lib/lamina_layer.rb": "module LaminaLayer\n  VALUE = 'from-layer'\nend\n"},
         "Function<RuntimeError>", needs="ruby"),
    Case("provided.al2023", "bootstrap", lambda: {"bootstrap": _go_bootstrap()},
         lambda: {"bootstrap": "#!/bin/sh\necho 'init boom' >&2\nexit 1\n"},
         {"lamina_layer.txt": "from-layer"}, "errorString",
         modes={"bootstrap": 0o755}, needs="go"),
    Case("java17", "suite.Handler", lambda: _tree(_java_build() / "task"),
         lambda: _tree(_java_build() / "broken"),
         # a jar in the layer's java/lib/, which AWS puts on the classpath; the handler reads a resource from it
         {"java/lib/lamina-layer.jar": make_zip({"lamina_layer.txt": "from-layer"})},
         "java.lang.RuntimeException", needs="mvn",
         # AWS's Java runtime: "Error loading class <name>" + ": " + the error's own message, which an
         # ExceptionInInitializerError does not have; the cause's trace goes to the log.
         init_error={"errorMessage": "Error loading class suite.Handler",
                     "errorType": "java.lang.ExceptionInInitializerError"}),
    # .NET has no layer search path on AWS: the function loads /opt/LaminaLayer.dll itself.
    Case("dotnet8", "Suite::Suite.Handler::Handle", lambda: _tree(_dotnet_build() / "task"),
         lambda: _tree(_dotnet_build() / "broken"),
         lambda: {"LaminaLayer.dll": (_dotnet_build() / "LaminaLayer.dll").read_bytes()}, "Exception", needs="mcs"),
]


def _available(case: Case) -> bool:
    if case.needs is None:
        return True
    return shutil.which(case.needs) is not None or (case.needs == "go" and Path("/usr/local/go/bin/go").exists())


@pytest.fixture(scope="module", params=CASES, ids=[c.runtime for c in CASES])
def deployed(request, lambda_client):
    case: Case = request.param
    if not _available(case):
        pytest.skip(f"{case.needs} is not installed")
    suffix = uuid.uuid4().hex[:8]
    layer = lambda_client.publish_layer_version(LayerName=f"suite-{suffix}",
                                                Content={"ZipFile": make_zip(case.layer() if callable(case.layer) else case.layer)})
    names = {"main": f"suite-{case.runtime.replace('.', '-')}-{suffix}",
             "broken": f"suite-broken-{case.runtime.replace('.', '-')}-{suffix}"}
    for key, files in (("main", case.files()), ("broken", case.init_error_files())):
        lambda_client.create_function(
            FunctionName=names[key], Runtime=case.runtime, Role=ROLE, Handler=case.handler,
            Code={"ZipFile": make_zip(files, case.modes)}, Timeout=3, MemorySize=256,
            Layers=[layer["LayerVersionArn"]], Environment={"Variables": {"SUITE_VAR": "suite-value"}})
        lambda_client.get_waiter("function_active_v2").wait(FunctionName=names[key],
                                                            WaiterConfig={"Delay": 0.2})
    yield case, names
    for name in names.values():
        lambda_client.delete_function(FunctionName=name)


def invoke(client, name: str, event: dict, **kw: Any) -> tuple[dict, Any]:
    resp = client.invoke(FunctionName=name, Payload=json.dumps(event), **kw)
    raw = resp["Payload"].read()
    return resp, json.loads(raw) if raw else None


def test_echo(lambda_client, deployed):
    _, names = deployed
    data = {"nested": {"list": [1, 2.5, "three", None, True]}, "unicode": "héllo ✓"}
    resp, body = invoke(lambda_client, names["main"], {"action": "echo", "data": data})
    assert "FunctionError" not in resp, body
    assert body == data


def test_handler_error_shape(lambda_client, deployed):
    case, names = deployed
    resp, body = invoke(lambda_client, names["main"], {"action": "error"})
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorMessage"] == "boom"
    assert body["errorType"] == case.error_type


def test_init_error(lambda_client, deployed):
    case, names = deployed
    resp, body = invoke(lambda_client, names["broken"], {"action": "echo", "data": 1}, LogType="Tail")
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"], body
    if case.init_error is not None:
        assert body == case.init_error
        assert "init boom" in base64.b64decode(resp["LogResult"]).decode()
        return
    assert "init boom" in json.dumps(body) or body["errorType"] == "Runtime.ExitError", body


def test_timeout(lambda_client, deployed):
    _, names = deployed
    resp, body = invoke(lambda_client, names["main"], {"action": "sleep", "seconds": 5})
    assert resp["FunctionError"] == "Unhandled"
    assert body == {"errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {resp['ResponseMetadata']['RequestId']} Error: "
                                    "Task timed out after 3.00 seconds"}


def test_environment(lambda_client, deployed):
    case, names = deployed
    keys = ["SUITE_VAR", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION",
            "LAMBDA_TASK_ROOT", "_HANDLER", "TZ", "AWS_LAMBDA_RUNTIME_API"]
    _, body = invoke(lambda_client, names["main"], {"action": "env", "keys": keys})
    assert body["SUITE_VAR"] == "suite-value"
    assert body["AWS_LAMBDA_FUNCTION_NAME"] == names["main"]
    assert body["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert body["AWS_REGION"] == "us-east-1"
    assert body["LAMBDA_TASK_ROOT"] == "/var/task"
    assert body["_HANDLER"] == case.handler
    assert body["TZ"] == ":UTC"
    assert body["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")


def test_context(lambda_client, deployed):
    _, names = deployed
    resp, body = invoke(lambda_client, names["main"], {"action": "context"})
    assert body["function_name"] == names["main"]
    assert body["memory"] == "256"
    assert 0 < body["remaining"] <= 3000
    assert body["request_id"] == resp["ResponseMetadata"]["RequestId"]


def test_globals_and_tmp_survive_warm_invocations(lambda_client, deployed):
    _, names = deployed
    _, first = invoke(lambda_client, names["main"], {"action": "state", "write": "kept"})
    _, second = invoke(lambda_client, names["main"], {"action": "state"})
    assert second["tmp"] == "kept"
    assert second["count"] == first["count"] + 1


def test_logs_and_report_lines(lambda_client, deployed):
    _, names = deployed
    marker = f"suite-log-{uuid.uuid4().hex[:6]}"
    resp, _ = invoke(lambda_client, names["main"], {"action": "log", "text": marker}, LogType="Tail")
    rid = resp["ResponseMetadata"]["RequestId"]
    lines = base64.b64decode(resp["LogResult"]).decode().splitlines()
    start = lines.index(f"START RequestId: {rid} Version: $LATEST")
    logged = next(i for i, line in enumerate(lines) if marker in line)
    end = lines.index(f"END RequestId: {rid}")
    report = next(i for i, line in enumerate(lines) if line.startswith(f"REPORT RequestId: {rid}\t"))
    assert start < logged < end < report


def test_reads_a_layer(lambda_client, deployed):
    _, names = deployed
    resp, body = invoke(lambda_client, names["main"], {"action": "layer"})
    assert "FunctionError" not in resp, body
    assert body == "from-layer"

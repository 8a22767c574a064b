"""One behaviour suite, run against every language runtime Lamina serves.

Each language ships a function with the same actions (echo, error, sleep, env,
context, state, layer, log) and an init-failing variant; the tests below run
the same checks through a real server and real sandboxes for each of them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

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
    layer: dict[str, Any]
    error_type: str
    modes: dict[str, int] = field(default_factory=dict)
    needs: str | None = None            # an executable the host must have


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
                                                Content={"ZipFile": make_zip(case.layer)})
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
    _, names = deployed
    resp, body = invoke(lambda_client, names["broken"], {"action": "echo", "data": 1})
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"], body
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

"""The Ruby bootstrap (lamina/runtimes/ruby_bootstrap) as a real `ruby` process.

Each test starts the bootstrap as a subprocess (no sandbox; LAMBDA_TASK_ROOT
points at a temp folder) against a small but real Runtime API server (aiohttp on
127.0.0.1, tests/runtime_stub.py) and checks what a client of AWS's Ruby runtime
would see.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lamina.runtimes.base import LaunchContext
from lamina.runtimes.ruby import FAMILY_CLASS
from tests.runtime_stub import Launcher, Proc, RuntimeApi, write_task

RUBY = shutil.which("ruby") or "/usr/bin/ruby"

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not os.access(RUBY, os.X_OK), reason="ruby is not installed"),
]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def api() -> Iterator[RuntimeApi]:
    with RuntimeApi() as server:
        yield server


@pytest.fixture
def run(api: RuntimeApi, tmp_path: Path) -> Iterator[Any]:
    """run(files, handler, runtime="ruby3.3", **env) -> Proc with the code in tmp_path/task."""
    launcher = Launcher(api, tmp_path)
    family = FAMILY_CLASS({})

    def start(files: dict[str, str], handler: str, runtime: str = "ruby3.3", **extra_env: str) -> Proc:
        ctx = LaunchContext(runtime, handler, write_task(tmp_path / "task", files), None)
        return launcher.start(ctx, family.launch(ctx), memory=256, env=extra_env)

    yield start
    launcher.kill_all()


# --------------------------------------------------------------------------- tests

ECHO = "def handler(event:, context:)\n  { 'got' => event, 'class' => event.class.name }\nend\n"


def test_echo_and_startup_time(api: RuntimeApi, run: Any) -> None:
    proc = run({"function.rb": ECHO}, "function.handler")
    out = api.invoke({"a": [1, {"b": None}]})
    assert out.kind == "response"
    assert out.json() == {"got": {"a": [1, {"b": None}]}, "class": "Hash"}
    assert api.first_next_at is not None
    startup_ms = (api.first_next_at - proc.started) * 1000
    print(f"ruby bootstrap: process start -> first /next in {startup_ms:.1f} ms")
    assert startup_ms < 2000


def test_non_object_events(api: RuntimeApi, run: Any) -> None:
    run({"function.rb": ECHO}, "function.handler")
    assert api.invoke([1, 2]).json() == {"got": [1, 2], "class": "Array"}
    assert api.invoke("text").json() == {"got": "text", "class": "String"}
    # A body that is not JSON at all reaches the handler as the raw String.
    assert api.invoke(b"plain words").json() == {"got": "plain words", "class": "String"}


def test_chunked_event_body(api: RuntimeApi, run: Any) -> None:
    run({"function.rb": ECHO}, "function.handler")
    event = {"text": "x" * 5000, "n": list(range(50))}
    api.chunked_next = True  # exercise the bootstrap's chunked-body reader
    assert api.invoke(event).json() == {"got": event, "class": "Hash"}
    api.chunked_next = False
    assert api.invoke({"after": True}).json()["got"] == {"after": True}  # connection still usable


def test_module_class_handler(api: RuntimeApi, run: Any) -> None:
    code = (
        "module Shop\n  class Orders\n"
        "    def self.create(event:, context:)\n"
        "      { id: event['id'], by: name }\n"
        "    end\n  end\nend\n"
    )
    run({"app.rb": code}, "app.Shop::Orders.create")
    assert api.invoke({"id": 9}).json() == {"id": 9, "by": "Shop::Orders"}


def test_handler_in_subfolder(api: RuntimeApi, run: Any) -> None:
    code = "require 'helper'\ndef handler(event:, context:) = Helper.twice(event['n'])\n"
    run({"src/app.rb": code, "helper.rb": "module Helper\n  def self.twice(n) = n * 2\nend\n"},
        "src/app.handler")
    assert api.invoke({"n": 21}).json() == 42


def test_handler_error_shape(api: RuntimeApi, run: Any) -> None:
    code = (
        "class OutOfStock < StandardError; end\n"
        "def handler(event:, context:)\n"
        "  raise ArgumentError, 'bad input' if event['kind'] == 'arg'\n"
        "  raise OutOfStock, 'none left'\n"
        "end\n"
    )
    proc = run({"function.rb": code}, "function.handler")
    out = api.invoke({"kind": "arg"})
    assert out.kind == "error"
    body = out.json()
    assert list(body) == ["errorMessage", "errorType", "stackTrace"]
    assert body["errorMessage"] == "bad input"
    assert body["errorType"] == "Function<ArgumentError>"
    assert re.fullmatch(r".*/function\.rb:3:in `handler'", body["stackTrace"][0])
    assert all("runtime_bootstrap" not in f and "lamina_runtime" not in f for f in body["stackTrace"])
    assert out.headers["Lambda-Runtime-Function-Error-Type"] == "Function<ArgumentError>"
    # User-defined classes are named in the body but not in the header; the process goes on.
    out = api.invoke({"kind": "custom"})
    assert out.json()["errorType"] == "Function<OutOfStock>"
    assert out.headers["Lambda-Runtime-Function-Error-Type"] == "Function<UserException>"
    output = proc.wait_log("Function<OutOfStock>")
    assert "Error raised from handler method\n{\n  \"errorMessage\": \"bad input\"," in output
    assert proc.process.poll() is None


def test_no_method_error_fails_invoke_and_exits(api: RuntimeApi, run: Any) -> None:
    code = "def handler(event:, context:)\n  nil.upcase\nend\n"
    proc = run({"function.rb": code}, "function.handler")
    body = api.invoke({}).json()
    assert body["errorType"] == "Function<NoMethodError>"
    assert "upcase" in body["errorMessage"]
    assert proc.wait() == 255
    assert "Critical exception from handler" in proc.log()


def test_missing_handler_method(api: RuntimeApi, run: Any) -> None:
    # As on AWS, the file loads fine; the missing method fails the first invoke.
    proc = run({"function.rb": "def other(event:, context:) = 1\n"}, "function.handler")
    body = api.invoke({}).json()
    assert body["errorType"] == "Function<NoMethodError>"
    assert "undefined method" in body["errorMessage"] and "handler" in body["errorMessage"]
    assert proc.wait() == 255


def test_missing_handler_class(api: RuntimeApi, run: Any) -> None:
    proc = run({"function.rb": "x = 1\n"}, "function.Nope::Handler.call")
    body = api.invoke({}).json()
    assert body["errorType"] == "Function<NameError>"
    assert "Nope" in body["errorMessage"]
    assert proc.wait() == 255


def test_init_error_missing_file(api: RuntimeApi, run: Any) -> None:
    proc = run({}, "missing.handler")
    err = api.init_error.result(10)
    body = err.json()
    assert body["errorType"] == "Init<LoadError>"
    assert body["errorMessage"] == "cannot load such file -- missing"
    assert err.headers["Lambda-Runtime-Function-Error-Type"] == "Init<LoadError>"
    assert proc.wait() == 252
    assert "Init error when loading handler missing.handler" in proc.log()


def test_init_error_raised_by_code(api: RuntimeApi, run: Any) -> None:
    proc = run({"function.rb": "raise 'no config'\n"}, "function.handler")
    err = api.init_error.result(10)
    assert err.json()["errorType"] == "Init<RuntimeError>"
    assert err.json()["errorMessage"] == "no config"
    assert err.json()["stackTrace"][0].endswith("function.rb:1:in `<top (required)>'")
    assert err.headers["Lambda-Runtime-Function-Error-Type"] == "Function<UserException>"
    assert proc.wait() == 252


def test_init_error_syntax_and_bad_handler_string(api: RuntimeApi, run: Any) -> None:
    run({"function.rb": "def handler(event:, context:\n"}, "function.handler")
    assert api.init_error.result(10).json()["errorType"] == "Init<SyntaxError>"


def test_init_error_malformed_handler(api: RuntimeApi, run: Any) -> None:
    run({"function.rb": ECHO}, "function")
    body = api.init_error.result(10).json()
    assert body["errorType"] == "Init<ArgumentError>"
    assert body["errorMessage"].startswith('Invalid handler ["function"], must be of form FILENAME.METHOD')


def test_context_fields_and_remaining_time(api: RuntimeApi, run: Any) -> None:
    code = (
        "def handler(event:, context:)\n"
        "  before = context.get_remaining_time_in_millis\n"
        "  sleep 0.05\n"
        "  fields = %i[aws_request_id invoked_function_arn log_group_name log_stream_name\n"
        "              function_name memory_limit_in_mb function_version identity client_context\n"
        "              deadline_ms tenant_id]\n"
        "  fields.to_h { |f| [f, context.public_send(f)] }.merge(\n"
        "    before: before, after: context.get_remaining_time_in_millis, klass: context.class.name,\n"
        "    trace: ENV['_X_AMZN_TRACE_ID'])\n"
        "end\n"
    )
    run({"function.rb": code}, "function.handler")
    identity = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
    client_ctx = {"client": {"installation_id": "i"}, "custom": {"k": "v"}, "env": {"e": "1"}}
    out = api.invoke({}, deadline_s=5, headers={
        "Lambda-Runtime-Cognito-Identity": json.dumps(identity),
        "Lambda-Runtime-Client-Context": json.dumps(client_ctx),
    })
    res = out.json()
    assert res["aws_request_id"] == out.request_id
    assert res["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:fn"
    assert (res["function_name"], res["function_version"]) == ("fn", "$LATEST")
    assert res["memory_limit_in_mb"] == "256"
    assert res["log_group_name"] == "/aws/lambda/fn"
    assert res["log_stream_name"].startswith("2024/01/01/[$LATEST]")
    assert res["identity"] == identity and res["client_context"] == client_ctx
    assert res["tenant_id"] is None
    assert abs(res["deadline_ms"] - (time.time() * 1000 + 5000)) < 5000
    assert 4000 < res["before"] <= 5000 and res["before"] - res["after"] >= 45
    assert res["klass"] == "LambdaContext"
    assert res["trace"].startswith("Root=1-5759e988")


def test_remaining_time_never_negative(api: RuntimeApi, run: Any) -> None:
    run({"function.rb": "def handler(event:, context:) = context.get_remaining_time_in_millis\n"},
        "function.handler")
    assert api.invoke({}, deadline_s=-1).json() == 0


def test_env_vars(api: RuntimeApi, run: Any) -> None:
    code = "def handler(event:, context:) = ENV.to_h\n"
    run({"function.rb": code}, "function.handler", runtime="ruby3.4", MY_SETTING="on")
    env = api.invoke({}).json()
    assert env["MY_SETTING"] == "on"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_ruby3.4"
    assert env["RUBYLIB"] == "/var/task:/opt/ruby/lib"
    assert env["GEM_PATH"].startswith("/var/task/vendor/bundle/ruby/3.4.0:")
    assert "/opt/ruby/gems/3.4.0" in env["GEM_PATH"].split(":")


def test_bundled_gems_still_load(api: RuntimeApi, run: Any) -> None:
    # GEM_PATH must not hide the interpreter's own bundled gems.
    code = "require 'rexml/document'\ndef handler(event:, context:) = REXML::Document.new('<a>1</a>').root.text\n"
    run({"function.rb": code}, "function.handler")
    assert api.invoke({}).json() == "1"


def test_globals_persist_across_invokes(api: RuntimeApi, run: Any) -> None:
    code = "$count = 0\ndef handler(event:, context:)\n  $count += 1\n  { count: $count, pid: Process.pid }\nend\n"
    run({"function.rb": code}, "function.handler")
    first, second = api.invoke({}).json(), api.invoke({}).json()
    assert (first["count"], second["count"]) == (1, 2)
    assert first["pid"] == second["pid"]


def test_stdout_and_logger(api: RuntimeApi, run: Any) -> None:
    code = (
        "require 'logger'\n"
        "LOG = Logger.new($stdout)\n"
        "puts 'at init'\n"
        "def handler(event:, context:)\n"
        "  puts 'hello from puts'\n"
        "  LOG.info('from logger')\n"
        "  LOG.warn('careful')\n"
        "  $stderr.puts 'to stderr'\n"
        "  'ok'\n"
        "end\n"
    )
    proc = run({"function.rb": code}, "function.handler")
    rid = api.invoke({}).request_id
    output = proc.wait_log("to stderr")
    assert output.index("at init") < output.index("hello from puts")
    info = re.search(r"^I, \[(\S+) #(\d+)\]  INFO (\S+) -- : from logger$", output, re.MULTILINE)
    assert info is not None, output
    assert info.group(3) == rid and int(info.group(2)) == proc.process.pid
    assert time.strptime(info.group(1)[:19], "%Y-%m-%dT%H:%M:%S")
    assert re.search(rf"^W, \[\S+ #\d+\]  WARN {rid} -- : careful$", output, re.MULTILINE)


def test_io_result_is_sent_raw(api: RuntimeApi, run: Any) -> None:
    code = "require 'stringio'\ndef handler(event:, context:) = StringIO.new('raw bytes')\n"
    run({"function.rb": code}, "function.handler")
    out = api.invoke({})
    assert out.body == b"raw bytes"
    assert out.headers["Content-Type"] == "application/unknown"

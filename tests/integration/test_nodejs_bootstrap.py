"""The Node.js bootstrap (lamina/runtimes/nodejs_bootstrap) as a real `node` process.

Each test starts the bootstrap as a subprocess (no sandbox; LAMBDA_TASK_ROOT
points at a temp folder) against a small but real Runtime API server (aiohttp on
127.0.0.1, tests/runtime_stub.py) and checks what a client of AWS's Node.js runtime
would see: results, error bodies, init errors, context, logs.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lamina.runtimes.base import LaunchContext
from lamina.runtimes.nodejs import FAMILY_CLASS
from tests.runtime_stub import Launcher, Proc, RuntimeApi, write_task

NODE = shutil.which("node") or "/usr/bin/node"

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not os.access(NODE, os.X_OK), reason="node is not installed"),
]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def api() -> Iterator[RuntimeApi]:
    with RuntimeApi() as server:
        yield server


@pytest.fixture
def run(api: RuntimeApi, tmp_path: Path) -> Iterator[Any]:
    """run(files, handler, runtime="nodejs20.x", **env) -> Proc with the code in tmp_path/task."""
    launcher = Launcher(api, tmp_path)

    def start(files: dict[str, str], handler: str, runtime: str = "nodejs20.x",
              **extra_env: str) -> Proc:
        ctx = LaunchContext(runtime, handler, write_task(tmp_path / "task", files), None)
        return launcher.start(ctx, FAMILY_CLASS({}).launch(ctx), env=extra_env)

    yield start
    launcher.kill_all()


# --------------------------------------------------------------------------- tests

ECHO = "exports.handler = async (event, context) => ({ got: event });\n"


def test_echo_and_startup_time(api: RuntimeApi, run: Any) -> None:
    proc = run({"index.js": ECHO}, "index.handler")
    out = api.invoke({"a": [1, 2, {"b": None}]})
    assert out.kind == "response"
    assert out.json() == {"got": {"a": [1, 2, {"b": None}]}}
    assert api.first_next_at is not None
    startup_ms = (api.first_next_at - proc.started) * 1000
    print(f"node bootstrap: process start -> first /next in {startup_ms:.1f} ms")
    assert startup_ms < 1500


def test_undefined_result_is_null_and_strings_are_json(api: RuntimeApi, run: Any) -> None:
    run({"index.mjs": "let n = 0;\nexport const handler = async () => (n++ ? 'hi' : undefined);\n"},
        "index.handler")
    assert api.invoke({}).body == b"null"
    assert api.invoke({}).body == b'"hi"'


def test_handler_error_shape(api: RuntimeApi, run: Any) -> None:
    code = (
        "class ValidationError extends Error { constructor(m) { super(m); this.name = 'ValidationError'; } }\n"
        "exports.handler = async () => { throw new ValidationError('bad input'); };\n"
    )
    proc = run({"index.js": code}, "index.handler")
    out = api.invoke({})
    assert out.kind == "error"
    body = out.json()
    assert set(body) == {"errorType", "errorMessage", "trace"}
    assert body["errorType"] == "ValidationError"
    assert body["errorMessage"] == "bad input"
    assert body["trace"][0] == "ValidationError: bad input"
    assert any("index.js" in line for line in body["trace"][1:])
    assert out.headers["Lambda-Runtime-Function-Error-Type"] == "ValidationError"
    # The process survives a handler error; the log line has AWS's layout.
    assert api.invoke({}).kind == "error"
    line = next(line for line in proc.wait_log("Invoke Error").splitlines() if "Invoke Error" in line)
    _ts, rid, level, rest = line.split("\t", 3)
    assert rid == out.request_id
    assert level == "ERROR" and rest.startswith("Invoke Error \t{")
    assert json.loads(rest.split("\t", 1)[1])["errorType"] == "ValidationError"


def test_callback_error_values(api: RuntimeApi, run: Any) -> None:
    code = "exports.handler = (event, context, cb) => cb(event.msg);\n"
    run({"index.js": code}, "index.handler")
    out = api.invoke({"msg": "plain string"})
    assert out.json() == {"errorType": "string", "errorMessage": "plain string", "trace": []}


def test_init_error_missing_module(api: RuntimeApi, run: Any) -> None:
    proc = run({}, "app.handler")
    err = api.init_error.result(10)
    body = err.json()
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"].startswith("Error: Cannot find module 'app'\nRequire stack:\n- ")
    assert body["errorMessage"].endswith("index.mjs")
    assert body["trace"][0] == "Runtime.ImportModuleError: Error: Cannot find module 'app'"
    assert err.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.ImportModuleError"
    assert proc.wait() == 129
    assert "\tundefined\tERROR\tUncaught Exception \t{" in proc.log()


def test_init_error_missing_dependency(api: RuntimeApi, run: Any) -> None:
    run({"app.js": "require('no-such-pkg');\nexports.handler = async () => 1;\n"}, "app.handler")
    body = api.init_error.result(10).json()
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"].startswith("Error: Cannot find module 'no-such-pkg'\nRequire stack:\n- ")


def test_init_error_handler_not_found(api: RuntimeApi, run: Any) -> None:
    proc = run({"index.js": "exports.other = () => 1;\n"}, "index.handler")
    body = api.init_error.result(10).json()
    assert body["errorType"] == "Runtime.HandlerNotFound"
    assert body["errorMessage"] == "index.handler is undefined or not exported"
    assert proc.wait() == 129


def test_init_error_not_a_function_and_bad_name(api: RuntimeApi, run: Any) -> None:
    run({"index.js": "exports.handler = 42;\n"}, "index.handler")
    body = api.init_error.result(10).json()
    assert (body["errorType"], body["errorMessage"]) == (
        "Runtime.HandlerNotFound", "index.handler is not a function")


def test_init_error_malformed_handler(api: RuntimeApi, run: Any) -> None:
    run({"index.js": ECHO}, "index")
    body = api.init_error.result(10).json()
    assert (body["errorType"], body["errorMessage"]) == ("Runtime.MalformedHandlerName", "Bad handler")


def test_init_error_syntax(api: RuntimeApi, run: Any) -> None:
    run({"index.js": "exports.handler = async () => {;\n"}, "index.handler")
    body = api.init_error.result(10).json()
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    assert body["errorMessage"].startswith("SyntaxError: ")


def test_init_error_thrown_by_module(api: RuntimeApi, run: Any) -> None:
    run({"index.mjs": "throw new TypeError('no config');\n"}, "index.handler")
    body = api.init_error.result(10).json()
    assert (body["errorType"], body["errorMessage"]) == ("TypeError", "no config")


def test_context_fields_and_remaining_time(api: RuntimeApi, run: Any) -> None:
    code = (
        "exports.handler = async (event, context) => {\n"
        "  const before = context.getRemainingTimeInMillis();\n"
        "  await new Promise((r) => setTimeout(r, 50));\n"
        "  return { ctx: JSON.parse(JSON.stringify(context)), before,\n"
        "           after: context.getRemainingTimeInMillis(),\n"
        "           waits: context.callbackWaitsForEmptyEventLoop,\n"
        "           methods: ['succeed', 'fail', 'done'].map((m) => typeof context[m]),\n"
        "           trace: process.env._X_AMZN_TRACE_ID };\n"
        "};\n"
    )
    run({"index.js": code}, "index.handler")
    identity = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
    client_ctx = {"client": {"installation_id": "i"}, "custom": {"k": "v"}, "env": {"e": "1"}}
    out = api.invoke({}, deadline_s=5, headers={
        "Lambda-Runtime-Cognito-Identity": json.dumps(identity),
        "Lambda-Runtime-Client-Context": json.dumps(client_ctx),
    })
    res = out.json()
    ctx = res["ctx"]
    assert ctx["awsRequestId"] == out.request_id
    assert ctx["functionName"] == "fn"
    assert ctx["functionVersion"] == "$LATEST"
    assert ctx["memoryLimitInMB"] == "128"
    assert ctx["invokedFunctionArn"] == "arn:aws:lambda:us-east-1:123456789012:function:fn"
    assert ctx["logGroupName"] == "/aws/lambda/fn"
    assert ctx["logStreamName"].startswith("2024/01/01/[$LATEST]")
    assert ctx["identity"] == identity
    assert ctx["clientContext"] == client_ctx
    assert ctx["callbackWaitsForEmptyEventLoop"] is True
    assert list(ctx)[:2] == ["callbackWaitsForEmptyEventLoop", "functionVersion"]
    assert 4000 < res["before"] <= 5000
    assert res["before"] - res["after"] >= 45
    assert res["waits"] is True
    assert res["methods"] == ["function"] * 3
    assert res["trace"].startswith("Root=1-5759e988")


def test_env_vars_and_node_path(api: RuntimeApi, run: Any) -> None:
    code = (
        "exports.handler = async () => ({ env: { ...process.env } });\n"
    )
    run({"index.js": code}, "index.handler", runtime="nodejs22.x", MY_SETTING="on")
    env = api.invoke({}).json()["env"]
    assert env["MY_SETTING"] == "on"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_nodejs22.x"
    assert env["NODE_PATH"] == ("/opt/nodejs/node22/node_modules:/opt/nodejs/node_modules:"
                                "/var/runtime/node_modules:/var/runtime:/var/task")
    assert env["_HANDLER"] == "index.handler"


def test_nested_handler_path_and_export_path(api: RuntimeApi, run: Any) -> None:
    code = "module.exports = { api: { v1: { handler: async (e) => ({ deep: e.x }) } } };\n"
    run({"src/lib/app.js": code}, "src/lib/app.api.v1.handler")
    assert api.invoke({"x": 7}).json() == {"deep": 7}


def test_resolution_prefers_js_then_mjs_then_cjs(api: RuntimeApi, run: Any) -> None:
    run({
        "h.mjs": "export const handler = async () => 'mjs';\n",
        "h.cjs": "exports.handler = async () => 'cjs';\n",
    }, "h.handler")
    assert api.invoke({}).json() == "mjs"


def test_cjs_file(api: RuntimeApi, run: Any) -> None:
    run({"h.cjs": "exports.handler = async () => 'cjs';\n"}, "h.handler")
    assert api.invoke({}).json() == "cjs"


def test_esm_mjs_with_top_level_await(api: RuntimeApi, run: Any) -> None:
    code = (
        "const config = await new Promise((r) => setTimeout(() => r({ ready: true }), 20));\n"
        "export const handler = async (event) => ({ config, esm: typeof require });\n"
    )
    run({"index.mjs": code}, "index.handler")
    assert api.invoke({}).json() == {"config": {"ready": True}, "esm": "undefined"}


def test_esm_via_package_type_module(api: RuntimeApi, run: Any) -> None:
    run({
        "package.json": json.dumps({"type": "module"}),
        "lib/index.js": "import { hello } from './util.js';\nexport const handler = async () => hello();\n",
        "lib/util.js": "export const hello = () => ({ from: import.meta.url.endsWith('/lib/util.js') });\n",
    }, "lib/index.handler")
    assert api.invoke({}).json() == {"from": True}


def test_callback_waits_for_empty_event_loop(api: RuntimeApi, run: Any) -> None:
    # callback() first, then a timer: with the default (true) the answer waits for
    # the timer, so the timer's log line precedes the answer and state it set shows.
    code = (
        "let last = 'none';\n"
        "exports.handler = function (event, context, callback) {\n"
        "  context.callbackWaitsForEmptyEventLoop = event.wait;\n"
        "  const prev = last;\n"
        "  setTimeout(() => { last = 'timer-' + event.n; console.log('timer fired', event.n); }, 400);\n"
        "  callback(null, { prev, t: Date.now() });\n"
        "};\n"
    )
    proc = run({"index.js": code}, "index.handler")
    t0 = time.monotonic()
    out = api.invoke({"wait": True, "n": 1})
    waited = time.monotonic() - t0
    assert out.json()["prev"] == "none"
    assert waited >= 0.39
    assert "timer fired 1" in proc.wait_log("timer fired 1")
    # callbackWaitsForEmptyEventLoop = false: answered at once; the timer runs later.
    t0 = time.monotonic()
    out = api.invoke({"wait": False, "n": 2})
    assert time.monotonic() - t0 < 0.35
    assert out.json()["prev"] == "timer-1"
    assert "timer fired 2" not in proc.log()
    assert "timer fired 2" in proc.wait_log("timer fired 2")
    assert "removed support for callback-based function handlers" in proc.log()  # the warning


def test_legacy_context_succeed_fail_done(api: RuntimeApi, run: Any) -> None:
    code = (
        "exports.handler = function (event, context) {\n"
        "  if (event.op === 'succeed') context.succeed({ ok: 1 });\n"
        "  else if (event.op === 'fail') context.fail(new Error('nope'));\n"
        "  else context.done(null, 'done');\n"
        "};\n"
    )
    run({"index.js": code}, "index.handler")
    assert api.invoke({"op": "succeed"}).json() == {"ok": 1}
    err = api.invoke({"op": "fail"})
    assert (err.kind, err.json()["errorMessage"]) == ("error", "nope")
    assert api.invoke({"op": "done"}).json() == "done"


def test_sync_handler_without_callback_answers_null(api: RuntimeApi, run: Any) -> None:
    run({"index.js": "exports.handler = (event) => 42;\n"}, "index.handler")
    assert api.invoke({}).body == b"null"


def test_never_settled_async_handler(api: RuntimeApi, run: Any) -> None:
    run({"index.mjs": "export const handler = async () => new Promise(() => {});\n"}, "index.handler")
    body = api.invoke({}).json()
    assert body["errorType"] == "Runtime.NodeJsExit"


def test_nodejs24_rejects_callback_handlers(api: RuntimeApi, run: Any) -> None:
    code = "exports.handler = (event, context, callback) => callback(null, 1);\n"
    proc = run({"index.js": code}, "index.handler", runtime="nodejs24.x")
    body = api.init_error.result(10).json()
    assert body["errorType"] == "Runtime.CallbackHandlerDeprecated"
    assert body["errorMessage"] == (
        "ERROR: AWS Lambda has removed support for callback-based function handlers starting with "
        "Node.js 24. You need to modify this function to use a supported handler signature to use "
        "Node.js 24 or later. For more information see "
        "https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.")
    assert proc.wait() == 129


def test_nodejs24_accepts_async_three_arg_handlers(api: RuntimeApi, run: Any) -> None:
    code = ("exports.handler = async (event, context, unused) => ({\n"
            "  methods: typeof context.succeed, n: event.n });\n")
    run({"index.js": code}, "index.handler", runtime="nodejs24.x")
    assert api.invoke({"n": 3}).json() == {"methods": "undefined", "n": 3}


def test_globals_persist_across_invokes(api: RuntimeApi, run: Any) -> None:
    code = "let count = 0;\nconst pid = process.pid;\nexports.handler = async () => ({ count: ++count, pid });\n"
    run({"index.js": code}, "index.handler")
    first, second = api.invoke({}).json(), api.invoke({}).json()
    assert (first["count"], second["count"]) == (1, 2)
    assert first["pid"] == second["pid"]


def test_console_text_format(api: RuntimeApi, run: Any) -> None:
    code = (
        "console.log('at init');\n"
        "exports.handler = async () => {\n"
        "  console.log('hello %s', 'world', { a: 1 });\n"
        "  console.info('two\\nlines'); console.warn('w'); console.error('e'); console.debug('d');\n"
        "  return 1;\n"
        "};\n"
    )
    proc = run({"index.js": code}, "index.handler")
    rid = api.invoke({}).request_id
    output = proc.wait_log("\tDEBUG\td")
    # split("\n"), not splitlines(): "\r" inside a record must not split it.
    lines = [line.split("\t") for line in output.split("\n") if line.count("\t") >= 3]
    assert lines[0][1:] == ["undefined", "INFO", "at init"]
    assert time.strptime(lines[0][0], "%Y-%m-%dT%H:%M:%S.%f" + "Z")
    got = [(line[1], line[2], line[3]) for line in lines[1:]]
    assert got == [
        (rid, "INFO", "hello world { a: 1 }"),
        (rid, "INFO", "two\rlines"),
        (rid, "WARN", "w"),
        (rid, "ERROR", "e"),
        (rid, "DEBUG", "d"),
    ]


def test_console_json_format_and_level(api: RuntimeApi, run: Any) -> None:
    code = (
        "exports.handler = async () => {\n"
        "  console.debug('hidden'); console.info({ k: 'v' }); console.error('bad', new Error('x'));\n"
        "  return 1;\n"
        "};\n"
    )
    proc = run({"index.js": code}, "index.handler",
               AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="INFO")
    rid = api.invoke({}).request_id
    output = proc.wait_log('"level":"ERROR"')
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [r["level"] for r in records] == ["INFO", "ERROR"]
    assert records[0]["message"] == {"k": "v"} and records[0]["requestId"] == rid
    assert records[1]["message"].startswith("bad Error: x")
    assert records[1]["errorType"] == "Error" and records[1]["errorMessage"] == "x"
    assert set(records[0]) == {"timestamp", "level", "requestId", "message"}


def test_uncaught_exception_after_init_fails_invoke_and_exits(api: RuntimeApi, run: Any) -> None:
    code = ("exports.handler = async () => {\n"
            "  setTimeout(() => { throw new RangeError('late'); }, 10);\n"
            "  return new Promise(() => {});\n"
            "};\n")
    proc = run({"index.js": code}, "index.handler")
    out = api.invoke({})
    assert (out.kind, out.json()["errorType"], out.json()["errorMessage"]) == ("error", "RangeError", "late")
    assert proc.wait() == 129


def test_unhandled_rejection_exits_128(api: RuntimeApi, run: Any) -> None:
    code = ("exports.handler = async () => { Promise.reject(new Error('lost')); "
            "return new Promise(() => {}); };\n")
    proc = run({"index.js": code}, "index.handler")
    out = api.invoke({})
    assert out.json()["errorType"] == "Runtime.UnhandledPromiseRejection"
    assert out.json()["errorMessage"] == "Error: lost"
    assert proc.wait() == 128


def test_response_streaming(api: RuntimeApi, run: Any) -> None:
    code = (
        "export const handler = awslambda.streamifyResponse(async (event, stream, context) => {\n"
        "  stream = awslambda.HttpResponseStream.from(stream, { statusCode: 201, headers: { a: 'b' } });\n"
        "  stream.write('hello ');\n"
        "  await new Promise((r) => setTimeout(r, 10));\n"
        "  stream.end(context.functionName);\n"
        "});\n"
    )
    run({"index.mjs": code}, "index.handler")
    out = api.invoke({})
    assert out.kind == "response"
    assert out.headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
    assert out.headers["Content-Type"] == "application/vnd.awslambda.http-integration-response"
    prelude, rest = out.body.split(b"\0" * 8, 1)
    assert json.loads(prelude) == {"statusCode": 201, "headers": {"a": "b"}}
    assert rest == b"hello fn"

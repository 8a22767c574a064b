"""Response streaming through a real server: InvokeWithResponseStream and RESPONSE_STREAM URLs.

Real Node.js functions wrapped in `awslambda.streamifyResponse` stream through the
Runtime API (chunked POST, trailers on failure) to boto3's event stream parser and
to plain HTTP clients; a Python function shows the buffered fallback.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server

NODE = shutil.which("node") or "/usr/bin/node"
pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not os.access(NODE, os.X_OK), reason="node is not installed"),
]

STREAMING = """\
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const handler = awslambda.streamifyResponse(async (event, stream, context) => {
  if (event.rawPath !== undefined) {
    const path = event.rawPath;
    if (path === '/plain') {
      stream.setContentType('text/csv');
      stream.write('a,b\\n');
      stream.end('1,2\\n');
      return;
    }
    if (path === '/fail') {
      stream = awslambda.HttpResponseStream.from(stream, { statusCode: 200 });
      stream.write('partial');
      await sleep(50);
      throw new Error('broke mid-stream');
    }
    stream = awslambda.HttpResponseStream.from(stream, {
      statusCode: 201, headers: { 'x-custom': 'yes', 'content-type': 'text/plain' },
      cookies: ['a=1', 'b=2'] });
    for (let i = 0; i < 4; i++) {
      stream.write(`part ${i}\\n`);
      await sleep(300);
    }
    stream.end();
    return;
  }
  if (event.fail) {
    stream.write('before the error;');
    await sleep(50);
    throw new TypeError('broke mid-stream');
  }
  if (event.bytes) {
    const block = Buffer.alloc(1024 * 1024, 120);
    let left = event.bytes;
    while (left > 0) {
      const piece = left >= block.length ? block : block.subarray(0, left);
      left -= piece.length;
      if (!stream.write(piece)) await new Promise((r) => stream.once('drain', r));
    }
    stream.end();
    return;
  }
  const count = event.count || 4;
  for (let i = 0; i < count; i++) {
    stream.write(`chunk ${i};`);
    await sleep(event.delay || 0);
  }
  console.log('streamed', count);
  stream.end();
});
"""

PYTHON = """\
def handler(event, context):
    if event.get("fail"):
        raise ValueError("python says no")
    return {"echo": event, "request_id": context.aws_request_id}
"""


# A custom runtime speaking the streaming protocol by hand (raw HTTP/1.1 on a socket), to
# check the server side without any runtime library in between.
RAW_BOOTSTRAP = """#!/usr/bin/python3
import base64, json, os, socket

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
notes = []


def call(head, body_parts=(), trailers=""):
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head.encode())
        for part in body_parts:
            sock.sendall(b"%x\\r\\n%s\\r\\n" % (len(part), part))
        if body_parts or trailers:
            sock.sendall(b"0\\r\\n" + trailers.encode() + b"\\r\\n")
        data = b""
        while b"\\r\\n\\r\\n" not in data:
            data += sock.recv(65536)
        head, _, rest = data.partition(b"\\r\\n\\r\\n")
        length = 0
        for line in head.split(b"\\r\\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += sock.recv(65536)
        return int(head.split()[1]), dict(line.split(": ", 1) for line in
                                          head.decode().split("\\r\\n")[1:]), rest


while True:
    status, headers, event = call("GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\n"
                                  "Host: x\\r\\n\\r\\n")
    rid = headers["Lambda-Runtime-Aws-Request-Id"]
    case = json.loads(event)["case"]
    path = f"/2018-06-01/runtime/invocation/{rid}/response"
    if case == "badmode":
        answer = call(f"POST {path} HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 2\\r\\n"
                      "Lambda-Runtime-Function-Response-Mode: bogus\\r\\n\\r\\n{}")
        notes.append([answer[0], json.loads(answer[2])])
    elif case == "notes":
        body = json.dumps(notes).encode()
        call(f"POST {path} HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: {len(body)}\\r\\n\\r\\n"
             + body.decode())
    else:
        error = base64.b64encode(json.dumps({"errorType": "Raw.Failure", "errorMessage": "by hand",
                                             "stackTrace": []}).encode()).decode()
        trailers = ("Lambda-Runtime-Function-Error-Type: Raw.Failure\\r\\n"
                    f"Lambda-Runtime-Function-Error-Body: {error}\\r\\n") if case == "fail" else ""
        answer = call(f"POST {path} HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n"
                      "Content-Type: text/plain\\r\\n"
                      "Lambda-Runtime-Function-Response-Mode: streaming\\r\\n\\r\\n",
                      [b"one,", b"two,", b"three"], trailers)
        notes.append([answer[0], json.loads(answer[2])])
"""


def events(resp: dict[str, Any]) -> Iterator[tuple[float, dict[str, Any]]]:
    """(arrival time, event) for each event of an InvokeWithResponseStream answer."""
    for event in resp["EventStream"]:
        yield time.monotonic(), event


def read(resp: dict[str, Any]) -> tuple[list[tuple[float, bytes]], dict[str, Any]]:
    chunks, complete = [], None
    for at, event in events(resp):
        if "PayloadChunk" in event:
            chunks.append((at, event["PayloadChunk"]["Payload"]))
        elif "InvokeComplete" in event:
            complete = event["InvokeComplete"]
    assert complete is not None
    return chunks, complete


@pytest.fixture(scope="module")
def node_fn(lambda_client) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from tests.conftest import ROLE, make_zip
    name = f"stream-{uuid.uuid4().hex[:8]}"
    lambda_client.create_function(FunctionName=name, Runtime="nodejs20.x", Role=ROLE,
                                  Handler="index.handler", Timeout=30, MemorySize=256,
                                  Code={"ZipFile": make_zip({"index.mjs": STREAMING})})
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name,
                                                        WaiterConfig={"Delay": 0.2})
    yield name
    lambda_client.delete_function(FunctionName=name)


@pytest.fixture(scope="module")
def python_fn(lambda_client) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from tests.conftest import ROLE, make_zip
    name = f"stream-py-{uuid.uuid4().hex[:8]}"
    lambda_client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                                  Handler="handler.handler",
                                  Code={"ZipFile": make_zip({"handler.py": PYTHON})})
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name,
                                                        WaiterConfig={"Delay": 0.2})
    yield name
    lambda_client.delete_function(FunctionName=name)


# -- InvokeWithResponseStream -----------------------------------------------------------------


def test_chunks_arrive_as_the_function_writes_them(lambda_client, node_fn: str) -> None:
    resp = lambda_client.invoke_with_response_stream(
        FunctionName=node_fn, Payload=json.dumps({"count": 4, "delay": 400}), LogType="Tail")
    assert resp["StatusCode"] == 200
    assert resp["ExecutedVersion"] == "$LATEST"
    assert resp["ResponseStreamContentType"] == "application/vnd.amazon.eventstream"
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-remapped-content-type"] == "application/octet-stream"
    chunks, complete = read(resp)
    body = b"".join(c for _, c in chunks)
    assert body == b"chunk 0;chunk 1;chunk 2;chunk 3;"
    assert len(chunks) >= 4
    # Four writes 400 ms apart: the first arrives long before the last.
    spread = chunks[-1][0] - chunks[0][0]
    assert spread > 1.0, spread
    assert "ErrorCode" not in complete
    log = base64.b64decode(complete["LogResult"]).decode()
    assert "streamed 4" in log and "REPORT RequestId" in log


def test_python_function_gives_one_chunk(lambda_client, python_fn: str) -> None:
    resp = lambda_client.invoke_with_response_stream(FunctionName=python_fn,
                                                     Payload=json.dumps({"a": 1}))
    assert resp["ExecutedVersion"] == "$LATEST"
    chunks, complete = read(resp)
    assert len(chunks) == 1
    assert json.loads(chunks[0][1])["echo"] == {"a": 1}
    assert complete == {}


def test_python_function_error(lambda_client, python_fn: str) -> None:
    resp = lambda_client.invoke_with_response_stream(FunctionName=python_fn,
                                                     Payload=json.dumps({"fail": True}))
    chunks, complete = read(resp)
    assert chunks == []
    assert complete["ErrorCode"] == "ValueError"
    assert json.loads(complete["ErrorDetails"])["errorMessage"] == "python says no"


def test_error_mid_stream_comes_from_the_trailers(lambda_client, node_fn: str) -> None:
    resp = lambda_client.invoke_with_response_stream(FunctionName=node_fn,
                                                     Payload=json.dumps({"fail": True}))
    chunks, complete = read(resp)
    assert b"".join(c for _, c in chunks) == b"before the error;"
    assert complete["ErrorCode"] == "TypeError"
    details = json.loads(complete["ErrorDetails"])
    assert details["errorType"] == "TypeError"
    assert details["errorMessage"] == "broke mid-stream"
    # The environment is still usable afterwards.
    chunks, complete = read(lambda_client.invoke_with_response_stream(
        FunctionName=node_fn, Payload=json.dumps({"count": 2})))
    assert b"".join(c for _, c in chunks) == b"chunk 0;chunk 1;" and complete == {}


def test_plain_invoke_of_a_streaming_function_is_buffered(lambda_client, node_fn: str) -> None:
    resp = lambda_client.invoke(FunctionName=node_fn, Payload=json.dumps({"count": 3}))
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    assert resp["Payload"].read() == b"chunk 0;chunk 1;chunk 2;"


def test_dry_run_and_missing_function(lambda_client, node_fn: str) -> None:
    resp = lambda_client.invoke_with_response_stream(FunctionName=node_fn, InvocationType="DryRun")
    assert resp["StatusCode"] == 204
    assert list(resp["EventStream"]) == []
    resp["EventStream"].close()
    with pytest.raises(ClientError) as exc:
        lambda_client.invoke_with_response_stream(FunctionName="no-such-fn-stream")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_streamed_limit(lambda_client, node_fn: str) -> None:
    """More than 200 MiB: the stream stops at the limit and says why."""
    limit = 200 * 1024 * 1024
    resp = lambda_client.invoke_with_response_stream(FunctionName=node_fn,
                                                     Payload=json.dumps({"bytes": limit + 4096}))
    received, complete = 0, None
    for event in resp["EventStream"]:
        if "PayloadChunk" in event:
            received += len(event["PayloadChunk"]["Payload"])
        else:
            complete = event["InvokeComplete"]
    assert complete is not None
    assert complete["ErrorCode"] == "Function.ResponseSizeTooLarge"
    assert received == limit
    # 7 MiB (over the buffered limit) streams whole.
    chunks, complete = read(lambda_client.invoke_with_response_stream(
        FunctionName=node_fn, Payload=json.dumps({"bytes": 7 * 1024 * 1024})))
    assert sum(len(c) for _, c in chunks) == 7 * 1024 * 1024 and complete == {}


# -- function URLs ----------------------------------------------------------------------------


def url_get(server: Server, url: str, path: str) -> tuple[int, Any, list[tuple[float, bytes]]]:
    """GET through the server with the URL's Host header; (status, headers, timed pieces)."""
    import http.client
    host = urllib.parse.urlsplit(url).netloc
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        pieces = []
        while piece := resp.read1(65536):
            pieces.append((time.monotonic(), piece))
        return resp.status, resp.headers, pieces
    finally:
        conn.close()


@pytest.fixture(scope="module")
def stream_url(lambda_client, node_fn: str) -> Iterator[str]:  # type: ignore[no-untyped-def]
    url = lambda_client.create_function_url_config(
        FunctionName=node_fn, AuthType="NONE", InvokeMode="RESPONSE_STREAM")["FunctionUrl"]
    lambda_client.add_permission(FunctionName=node_fn, StatementId="url",
                                 Action="lambda:InvokeFunctionUrl", Principal="*",
                                 FunctionUrlAuthType="NONE")
    yield url
    lambda_client.delete_function_url_config(FunctionName=node_fn)


def test_url_streams_with_the_prelude(server: Server, stream_url: str) -> None:
    status, headers, pieces = url_get(server, stream_url, "/stream")
    assert status == 201
    assert headers["x-custom"] == "yes"
    assert headers["Content-Type"] == "text/plain"
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert b"".join(p for _, p in pieces) == b"part 0\npart 1\npart 2\npart 3\n"
    # Four writes 300 ms apart reach the client as they happen.
    assert pieces[-1][0] - pieces[0][0] > 0.6, [(round(t, 2), p) for t, p in pieces]


def test_url_plain_stream_and_error(server: Server, stream_url: str) -> None:
    status, headers, pieces = url_get(server, stream_url, "/plain")
    assert (status, headers["Content-Type"]) == (200, "text/csv")
    assert b"".join(p for _, p in pieces) == b"a,b\n1,2\n"
    # A failure after the headers went out ends the body where it was.
    status, _, pieces = url_get(server, stream_url, "/fail")
    assert status == 200
    assert b"".join(p for _, p in pieces) == b"partial"


def test_buffered_url_reads_the_prelude(lambda_client, server: Server, node_fn: str,
                                        stream_url: str) -> None:
    lambda_client.update_function_url_config(FunctionName=node_fn, InvokeMode="BUFFERED")
    try:
        status, headers, pieces = url_get(server, stream_url, "/stream")
        assert (status, headers["x-custom"]) == (201, "yes")
        assert b"".join(p for _, p in pieces) == b"part 0\npart 1\npart 2\npart 3\n"
    finally:
        lambda_client.update_function_url_config(FunctionName=node_fn, InvokeMode="RESPONSE_STREAM")


def test_url_stream_mode_with_a_buffered_function(lambda_client, server: Server,
                                                  python_fn: str) -> None:
    url = lambda_client.create_function_url_config(
        FunctionName=python_fn, AuthType="NONE", InvokeMode="RESPONSE_STREAM")["FunctionUrl"]
    lambda_client.add_permission(FunctionName=python_fn, StatementId="url",
                                 Action="lambda:InvokeFunctionUrl", Principal="*",
                                 FunctionUrlAuthType="NONE")
    status, headers, pieces = url_get(server, url, "/x?q=1")
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert json.loads(b"".join(p for _, p in pieces))["echo"]["rawPath"] == "/x"


# -- the Runtime API side, spoken by hand ------------------------------------------------------


def test_raw_runtime_streaming_trailers_and_bad_mode(lambda_client, create_function) -> None:
    name = f"stream-raw-{uuid.uuid4().hex[:8]}"
    create_function(name, {"bootstrap": RAW_BOOTSTRAP}, runtime="provided.al2023",
                    handler="raw", modes={"bootstrap": 0o755})
    resp = lambda_client.invoke_with_response_stream(FunctionName=name,
                                                     Payload=json.dumps({"case": "ok"}))
    assert resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-remapped-content-type"] == "text/plain"
    chunks, complete = read(resp)
    assert b"".join(c for _, c in chunks) == b"one,two,three" and complete == {}
    # An error in the trailers after some bytes went out.
    chunks, complete = read(lambda_client.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps({"case": "fail"})))
    assert b"".join(c for _, c in chunks) == b"one,two,three"
    assert complete["ErrorCode"] == "Raw.Failure"
    assert json.loads(complete["ErrorDetails"])["errorMessage"] == "by hand"
    # Through plain Invoke the same trailers make a function error.
    out = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"case": "fail"}))
    assert out["FunctionError"] == "Unhandled"
    assert json.loads(out["Payload"].read())["errorType"] == "Raw.Failure"
    # An unknown response mode: the invocation fails, the runtime gets a 400.
    out = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"case": "badmode"}))
    assert out["FunctionError"] == "Unhandled"
    assert json.loads(out["Payload"].read())["errorType"] == "Runtime.InvalidResponseModeHeader"
    notes = json.loads(lambda_client.invoke(FunctionName=name,
                                            Payload=json.dumps({"case": "notes"}))["Payload"].read())
    assert notes == [[202, {"status": "OK"}], [202, {"status": "OK"}], [202, {"status": "OK"}],
                     [400, {"errorType": "InvalidFunctionResponseMode",
                            "errorMessage": "Invalid function response mode"}]]


def test_timeout_mid_stream(lambda_client, create_function) -> None:
    name = f"stream-slow-{uuid.uuid4().hex[:8]}"
    create_function(name, {"index.mjs": (
        "export const handler = awslambda.streamifyResponse(async (event, stream) => {\n"
        "  stream.write('first;');\n"
        "  if (event.hang) await new Promise(() => setInterval(() => {}, 1000));\n"
        "  stream.end('done');\n"
        "});\n")}, runtime="nodejs20.x", handler="index.handler", Timeout=2)
    started = time.monotonic()
    chunks, complete = read(lambda_client.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps({"hang": True})))
    assert b"".join(c for _, c in chunks) == b"first;"
    assert chunks[0][0] - started < 1.9            # the first bytes did not wait for the end
    assert complete["ErrorCode"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in complete["ErrorDetails"]
    chunks, complete = read(lambda_client.invoke_with_response_stream(FunctionName=name))
    assert b"".join(c for _, c in chunks) == b"first;done" and complete == {}


def test_client_leaving_mid_stream(server: Server, lambda_client, node_fn: str,
                                   stream_url: str) -> None:
    """The function runs on when the client hangs up; its environment serves the next call."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("GET", "/stream", headers={"Host": urllib.parse.urlsplit(stream_url).netloc})
    resp = conn.getresponse()
    assert resp.status == 201 and resp.read1(65536).startswith(b"part 0")
    conn.close()
    chunks, complete = read(lambda_client.invoke_with_response_stream(
        FunctionName=node_fn, Payload=json.dumps({"count": 2})))
    assert b"".join(c for _, c in chunks) == b"chunk 0;chunk 1;" and complete == {}

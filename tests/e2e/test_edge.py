"""Lambda@Edge: the edge proxy in front of a real origin, with real functions on every trigger.

A small aiohttp origin runs in a thread of the test process on a free loopback port; a Lamina
server starts with --edge-config naming version 1 of four Python functions (published after the
server is up: the proxy checks a version on its first use). Requests go to the proxy with
http.client, which follows no redirects. The standalone `lamina edge` runs once against the
same server's endpoint.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import ROLE, ROOT, Server, free_port, make_zip

VIEWER_REQUEST = '''
import base64

def handler(event, context):
    request = event["Records"][0]["cf"]["request"]
    uri = request["uri"]
    if uri == "/generated":
        return {"status": "201", "statusDescription": "Made At Edge",
                "headers": {"content-type": [{"key": "Content-Type", "value": "text/plain"}],
                            "x-generated": [{"value": "viewer-request"}]},
                "body": "generated at the edge"}
    if uri == "/boom":
        raise RuntimeError("viewer-request failed on purpose")
    if uri == "/not-an-object":
        return ["not", "an", "object"]
    if uri == "/read-only":
        request["headers"]["host"] = [{"key": "Host", "value": "elsewhere.example"}]
        return request
    if uri == "/too-big":
        return {"status": "200", "body": "x" * (41 * 1024)}
    if uri == "/whole-event":
        return event
    request["headers"]["x-from-viewer-request"] = [{"key": "X-From-Viewer-Request", "value": "yes"}]
    body = request.get("body")
    if request["method"] == "POST":
        seen = base64.b64decode(body["data"]).decode()
        request["headers"]["x-viewer-saw-body"] = [
            {"key": "X-Viewer-Saw-Body", "value": f"{len(seen)}|{body['inputTruncated']}|{body['action']}"}]
        request["body"] = {"action": "replace", "encoding": "text", "data": seen.upper()}
    return request
'''

ORIGIN_REQUEST = '''
import base64

def handler(event, context):
    request = event["Records"][0]["cf"]["request"]
    custom = request["origin"]["custom"]
    request["headers"]["x-origin-seen"] = [
        {"key": "X-Origin-Seen", "value": f"{custom['protocol']}://{custom['domainName']}:{custom['port']}"}]
    if request["uri"] == "/origin-generated":
        return {"status": "302", "statusDescription": "Found",
                "headers": {"location": [{"key": "Location", "value": "https://example.com/"}]}}
    if request["uri"].startswith("/old/"):
        request["uri"] = "/new/" + request["uri"][len("/old/"):]
        request["querystring"] += ("&" if request["querystring"] else "") + "rewritten=1"
    if "body" in request and request["method"] == "POST":
        request["headers"]["x-origin-saw-body"] = [
            {"key": "X-Origin-Saw-Body", "value": base64.b64decode(request["body"]["data"]).decode()[:64]}]
    return request
'''

ORIGIN_RESPONSE = '''
def handler(event, context):
    cf = event["Records"][0]["cf"]
    response = cf["response"]
    response["headers"]["x-origin-response"] = [
        {"key": "X-Origin-Response", "value": response["status"] + " " + cf["request"]["uri"]}]
    if response["status"] == "404":
        response["status"] = "200"
        response["statusDescription"] = "OK"
        response["body"] = "rescued by origin-response"
        response["headers"]["content-type"] = [{"key": "Content-Type", "value": "text/plain"}]
    return response
'''

VIEWER_RESPONSE = '''
def handler(event, context):
    cf = event["Records"][0]["cf"]
    response = cf["response"]
    response["status"] = "299"          # viewer-response functions cannot change the status
    response["headers"]["x-viewer-response"] = [
        {"key": "X-Viewer-Response", "value": cf["config"]["eventType"] + " " + cf["request"]["uri"]}]
    return response
'''


@dataclass
class Origin:
    port: int
    seen: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def last(self) -> dict[str, Any]:
        assert self.seen, "the origin got no request"
        return self.seen[-1]


@pytest.fixture(scope="module")
def origin() -> Iterator[Origin]:
    state = Origin(free_port())
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        state.seen.append({"method": request.method, "path": request.path,
                           "query": request.query_string, "headers": dict(request.headers),
                           "body": body})
        if request.path.startswith("/status/"):
            code = int(request.path.rsplit("/", 1)[1])
            return web.Response(status=code, text=f"origin says {code}")
        return web.json_response({"path": request.path}, headers={"X-Origin": "real"})

    def run() -> None:
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", state.port).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield state
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def _arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:000000000000:function:{name}:1"


def _wait_port(port: int, deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def _publish(client: Any, name: str, code: str, **config: Any) -> str:
    client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                           Handler="handler.handler", Code={"ZipFile": make_zip({"handler.py": code})},
                           **config)
    client.get_waiter("function_active_v2").wait(FunctionName=name,
                                                 WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    assert client.publish_version(FunctionName=name)["Version"] == "1"
    return _arn(name)


@dataclass
class Edge:
    server: Server
    port: int
    names: dict[str, str]


@pytest.fixture(scope="module")
def edge(origin: Origin, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    tmp = tmp_path_factory.mktemp("edge")
    suffix = uuid.uuid4().hex[:6]
    names = {event: f"edge-{event}-{suffix}" for event in
             ("viewer-request", "origin-request", "origin-response", "viewer-response")}
    config = {"Id": "EDFDVBD6EXAMPLE", "DomainName": "d111111abcdef8.cloudfront.net",
              "Origin": origin.url, "OriginCustomHeaders": {"X-Custom-Origin": "configured"},
              "LambdaFunctionAssociations": {"Quantity": 4, "Items": [
                  {"EventType": event, "LambdaFunctionARN": _arn(name),
                   "IncludeBody": event.endswith("request")} for event, name in names.items()]}}
    (tmp / "dist.json").write_text(json.dumps(config))
    port = free_port()
    server = Server(tmp / "data", "--keep-alive", "60", "--edge-config", str(tmp / "dist.json"),
                    "--edge-port", str(port)).start()
    try:
        _wait_port(port)
        client = server.client()
        for event, code in (("viewer-request", VIEWER_REQUEST), ("origin-request", ORIGIN_REQUEST),
                            ("origin-response", ORIGIN_RESPONSE),
                            ("viewer-response", VIEWER_RESPONSE)):
            _publish(client, names[event], code)
        yield Edge(server, port, names)
    finally:
        server.stop()


def fetch(port: int, path: str, method: str = "GET", body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, str, Any, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.reason, resp.headers, resp.read()
    finally:
        conn.close()


def test_every_trigger_runs_and_viewer_headers_reach_the_origin(edge: Edge, origin: Origin) -> None:
    status, reason, headers, body = fetch(edge.port, "/hello?a=1", headers={"X-Viewer": "v"})
    assert (status, reason) == (200, "OK"), body      # the viewer-response status change is ignored
    assert json.loads(body) == {"path": "/hello"}
    seen = origin.last()
    assert seen["path"] == "/hello" and seen["query"] == "a=1"
    assert seen["headers"]["X-From-Viewer-Request"] == "yes"
    assert seen["headers"]["X-Viewer"] == "v"
    assert seen["headers"]["X-Origin-Seen"] == f"http://127.0.0.1:{origin.port}"
    assert seen["headers"]["X-Custom-Origin"] == "configured"
    assert seen["headers"]["Host"] == f"127.0.0.1:{origin.port}"
    assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert seen["headers"]["X-Amz-Cf-Id"] == headers["X-Amz-Cf-Id"]
    assert headers["X-Origin"] == "real"
    assert headers["X-Origin-Response"] == "200 /hello"
    assert headers["X-Viewer-Response"] == "viewer-response /hello"
    assert headers["X-Cache"] == "Miss from cloudfront"
    assert "(Lamina)" in headers["Via"]


def test_origin_request_rewrites_the_uri(edge: Edge, origin: Origin) -> None:
    status, _, headers, body = fetch(edge.port, "/old/page.html?x=2")
    assert status == 200 and json.loads(body) == {"path": "/new/page.html"}
    assert origin.last()["query"] == "x=2&rewritten=1"
    # origin-response sees the request as it was forwarded; viewer-response as the viewer sent it.
    assert headers["X-Origin-Response"] == "200 /new/page.html"
    assert headers["X-Viewer-Response"] == "viewer-response /old/page.html"


def test_generated_responses_short_circuit(edge: Edge, origin: Origin) -> None:
    before = len(origin.seen)
    status, reason, headers, body = fetch(edge.port, "/generated")
    assert (status, reason, body) == (201, "Made At Edge", b"generated at the edge")
    assert headers["X-Generated"] == "viewer-request"            # key filled in: X-Generated
    assert headers["Content-Type"] == "text/plain"
    assert headers["X-Cache"] == "LambdaGeneratedResponse from cloudfront"
    assert "X-Viewer-Response" not in headers                     # no other trigger ran
    status, _, headers, _ = fetch(edge.port, "/origin-generated")
    assert status == 302 and headers["Location"] == "https://example.com/"
    assert "X-Origin-Response" not in headers                     # origin-response is skipped
    assert headers["X-Viewer-Response"] == "viewer-response /origin-generated"
    assert len(origin.seen) == before, "the origin was not asked"


def test_origin_response_changes_the_status(edge: Edge) -> None:
    status, _, headers, body = fetch(edge.port, "/status/404")
    assert (status, body) == (200, b"rescued by origin-response")
    assert headers["X-Origin-Response"] == "404 /status/404"
    assert headers["X-Viewer-Response"] == "viewer-response /status/404"
    status, _, headers, body = fetch(edge.port, "/status/500")
    assert (status, body) == (500, b"origin says 500")
    assert "X-Viewer-Response" not in headers      # viewer-response does not run for >= 400


def test_request_body_is_shown_and_replaced(edge: Edge, origin: Origin) -> None:
    status, _, _, _ = fetch(edge.port, "/form", method="POST", body=b"name=edge",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    seen = origin.last()
    assert seen["method"] == "POST" and seen["body"] == b"NAME=EDGE"
    assert seen["headers"]["X-Viewer-Saw-Body"] == "9|False|read-only"
    assert seen["headers"]["X-Origin-Saw-Body"] == "NAME=EDGE"   # the replaced body, downstream
    assert seen["headers"]["Content-Length"] == "9"


def test_viewer_body_over_40kb_is_truncated(edge: Edge, origin: Origin) -> None:
    big = b"a" * (50 * 1024)
    status, _, _, _ = fetch(edge.port, "/big", method="POST", body=big)
    assert status == 200
    seen = origin.last()
    assert seen["headers"]["X-Viewer-Saw-Body"] == f"{40 * 1024}|True|read-only"
    assert seen["body"] == b"A" * (40 * 1024)       # the function replaced what it saw


@pytest.mark.parametrize("path, status, message", [
    ("/boom", 503, "The Lambda function associated with the CloudFront distribution is invalid "
                   "or doesn't have the required permissions."),
    ("/not-an-object", 502, "The Lambda function returned invalid JSON: The JSON output must be "
                            "an object type."),
    ("/read-only", 502, "The Lambda function result failed validation: The function tried to "
                        "add, delete, or change a read-only header."),
    ("/whole-event", 502, "The Lambda function result failed validation: The result is neither "
                          "a request (with a uri) nor a response (with a status)."),
    ("/too-big", 502, "The Lambda function result failed validation: The body is not a string, "
                      "is not an object, or exceeds the maximum size."),
])
def test_function_errors_get_cloudfronts_error_page(edge: Edge, path: str, status: int,
                                                   message: str) -> None:
    got, _, headers, body = fetch(edge.port, path)
    page = body.decode()
    assert got == status, page
    assert f"<H1>{status} ERROR</H1>" in page and message in page
    assert f"Request ID: {headers['X-Amz-Cf-Id']}" in page
    assert headers["X-Cache"] == "Error from cloudfront"
    assert headers["Content-Type"] == "text/html"


def test_unnumbered_versions_are_refused(origin: Origin) -> None:
    for qualifier in ("$LATEST", "live"):
        arn = f"arn:aws:lambda:us-east-1:000000000000:function:f:{qualifier}"
        proc = subprocess.run([sys.executable, "-m", "lamina.cli.main", "edge", "--origin",
                               origin.url, "--viewer-request", arn], cwd=ROOT,
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2
        assert ("The function ARN must reference a specific function version. (The ARN must "
                f"end with the version number.) ARN: {arn}") in proc.stderr


def test_standalone_proxy_invokes_through_the_endpoint(edge: Edge, origin: Origin,
                                                       tmp_path: Path) -> None:
    client = edge.server.client()
    slow = _publish(client, f"edge-slow-{uuid.uuid4().hex[:6]}", VIEWER_RESPONSE, Timeout=10)
    port = free_port()
    with open(tmp_path / "edge.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lamina.cli.main", "edge", "--origin", origin.url,
             "--viewer-request", _arn(edge.names["viewer-request"]), "--viewer-response", slow,
             "--endpoint-url", edge.server.endpoint, "--port", str(port)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_port(port)
        status, _, _, body = fetch(port, "/standalone")
        assert origin.last()["path"] == "/standalone"
        assert origin.last()["headers"]["X-From-Viewer-Request"] == "yes"
        # CloudFront would refuse to associate a 10 s function with a viewer event.
        assert status == 503, body
        status, _, headers, body = fetch(port, "/generated")
        assert (status, body) == (201, b"generated at the edge")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    output = (tmp_path / "edge.log").read_text()
    assert ("The function timeout is larger than the maximum allowed for functions that are "
            f"triggered by a CloudFront event: 10 Max allowed: 5 Function: {slow}") in output

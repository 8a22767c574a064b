"""Function URLs through a real server: config CRUD, auth, the 2.0 event, response mapping, CORS."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ROLE, Server, make_zip

HANDLER = '''\
import json


def handler(event, context):
    path = event["rawPath"]
    if path == "/raise":
        raise ValueError("on purpose")
    if path == "/return":
        return json.loads(event["body"])
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"event": event, "request_id": context.aws_request_id,
                                "version": context.function_version})}
'''
FORBIDDEN = ("Forbidden. For troubleshooting Function URL authorization issues, see: "
             "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html")


@dataclass
class Answer:
    status: int
    headers: Any        # http.client.HTTPMessage (case-insensitive, repeated headers kept)
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def send(server: Server, url: str, path: str = "/", method: str = "GET", body: bytes | None = None,
         headers: dict[str, str] | None = None) -> Answer:
    """Send to the server's address with the URL's Host header (the host does not resolve)."""
    host = urllib.parse.urlsplit(url).netloc
    req = urllib.request.Request(server.endpoint + path, data=body, method=method,
                                 headers={"Host": host, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return Answer(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return Answer(err.code, err.headers, err.read())


def error(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as exc:
        call()
    resp = exc.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


@pytest.fixture(scope="module")
def fn(lambda_client) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """One function (version 1, alias `live`) shared by the tests that invoke."""
    name = f"url-{uuid.uuid4().hex[:8]}"
    lambda_client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                                  Handler="handler.handler", Publish=True,
                                  Code={"ZipFile": make_zip({"handler.py": HANDLER})})
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    yield name
    lambda_client.delete_function(FunctionName=name)


@pytest.fixture(scope="module")
def public_url(lambda_client, fn) -> str:  # type: ignore[no-untyped-def]
    url = lambda_client.create_function_url_config(FunctionName=fn, AuthType="NONE")["FunctionUrl"]
    lambda_client.add_permission(FunctionName=fn, StatementId="public", Action="lambda:InvokeFunctionUrl",
                                 Principal="*", FunctionUrlAuthType="NONE")
    return str(url)


def test_config_lifecycle_and_errors(lambda_client, create_function):
    name = f"urlcfg-{uuid.uuid4().hex[:8]}"
    create_function(name, {"handler.py": HANDLER}, Publish=True)
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    cors = {"AllowOrigins": ["https://example.com"], "AllowMethods": ["GET"], "MaxAge": 60}
    created = lambda_client.create_function_url_config(FunctionName=name, AuthType="NONE", Cors=cors)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionArn"] == arn and created["Cors"] == cors
    assert "InvokeMode" not in created          # echoed only when the request sets it
    url = created["FunctionUrl"]
    assert url.startswith("http://") and ".lambda-url.us-east-1." in url and url.endswith("/")
    assert error(lambda: lambda_client.create_function_url_config(FunctionName=name, AuthType="NONE")) == (
        "ResourceConflictException", 409, (f"Failed to create function url config for [functionArn = {arn}]. "
        "Error message:  FunctionUrlConfig exists for this Lambda function"))

    got = lambda_client.get_function_url_config(FunctionName=name)
    assert (got["FunctionUrl"], got["InvokeMode"], got["AuthType"]) == (url, "BUFFERED", "NONE")
    updated = lambda_client.update_function_url_config(FunctionName=name, AuthType="AWS_IAM",
                                                       InvokeMode="RESPONSE_STREAM")
    assert (updated["AuthType"], updated["InvokeMode"], updated["Cors"]) == ("AWS_IAM", "RESPONSE_STREAM", cors)
    assert updated["CreationTime"] == created["CreationTime"]

    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    aliased = lambda_client.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    assert aliased["FunctionArn"] == f"{arn}:live" and aliased["FunctionUrl"] != url
    listed = lambda_client.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert sorted(c["FunctionArn"] for c in listed) == [arn, f"{arn}:live"]
    assert lambda_client.list_function_url_configs(FunctionName=name, MaxItems=1)["NextMarker"]

    assert lambda_client.delete_function_url_config(FunctionName=name)["ResponseMetadata"][
        "HTTPStatusCode"] == 204
    missing = ("ResourceNotFoundException", 404, "The resource you requested does not exist.")
    assert error(lambda: lambda_client.get_function_url_config(FunctionName=name)) == missing
    assert error(lambda: lambda_client.delete_function_url_config(FunctionName=name)) == missing
    assert lambda_client.get_function_url_config(FunctionName=name, Qualifier="live")["FunctionUrl"]
    assert error(lambda: lambda_client.create_function_url_config(
        FunctionName=name, Qualifier="nope", AuthType="NONE")) == (
        "ResourceNotFoundException", 404, "Function does not exist")
    assert error(lambda: lambda_client.update_function_url_config(
        FunctionName="no-such-fn-x", AuthType="NONE"))[2] == "Function does not exist"


def test_public_url_needs_the_resource_policy(server, lambda_client, create_function):
    name = f"urlpol-{uuid.uuid4().hex[:8]}"
    create_function(name, {"handler.py": HANDLER})
    url = lambda_client.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    denied = send(server, url)
    assert (denied.status, denied.json()) == (403, {"Message": FORBIDDEN})
    assert denied.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    # A grant to someone else, or without the auth-type condition's value, is not enough.
    lambda_client.add_permission(FunctionName=name, StatementId="acct", Action="lambda:InvokeFunctionUrl",
                                 Principal="111122223333", FunctionUrlAuthType="NONE")
    lambda_client.add_permission(FunctionName=name, StatementId="iam", Action="lambda:InvokeFunctionUrl",
                                 Principal="*", FunctionUrlAuthType="AWS_IAM")
    assert send(server, url).status == 403
    lambda_client.add_permission(FunctionName=name, StatementId="public", Action="lambda:InvokeFunctionUrl",
                                 Principal="*", FunctionUrlAuthType="NONE")
    assert send(server, url).status == 200
    # Deleting the function deletes its URL.
    lambda_client.delete_function(FunctionName=name)
    gone = send(server, url)
    assert (gone.status, gone.json()) == (403, {"Message": None})


def test_event_shape(server, public_url):
    answer = send(server, public_url, "/some/path?b=x&a=1&a=2", "POST", b"hello",
                  {"Content-Type": "text/plain", "X-Custom": "Yes", "Cookie": "c1=v1; c2=v2",
                   "User-Agent": "lamina-test/1"})
    assert answer.status == 200, answer
    out = answer.json()
    event = out["event"]
    assert answer.headers["x-amzn-RequestId"] == out["request_id"]
    assert out["version"] == "$LATEST"
    url_id = urllib.parse.urlsplit(public_url).hostname.split(".")[0]  # type: ignore[union-attr]
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert (event["rawPath"], event["rawQueryString"]) == ("/some/path", "b=x&a=1&a=2")
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert (event["body"], event["isBase64Encoded"]) == ("hello", False)
    assert event["headers"]["x-custom"] == "Yes" and "cookie" not in event["headers"]
    ctx = event["requestContext"]
    assert (ctx["apiId"], ctx["domainPrefix"], ctx["accountId"]) == (url_id, url_id, "000000000000")
    assert ctx["domainName"] == urllib.parse.urlsplit(public_url).hostname
    assert ctx["http"] == {"method": "POST", "path": "/some/path", "protocol": "HTTP/1.1",
                           "sourceIp": "127.0.0.1", "userAgent": "lamina-test/1"}
    assert "authorizer" not in ctx

    binary = send(server, public_url, "/bin", "PUT", b"\x00\xff\x10",
                  {"Content-Type": "application/octet-stream"}).json()["event"]
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\x00\xff\x10"
    bare = send(server, public_url).json()["event"]
    assert "body" not in bare and "queryStringParameters" not in bare and "cookies" not in bare
    assert bare["isBase64Encoded"] is False


@pytest.mark.parametrize("returned, status, body", [
    ({"hello": "world"}, 200, b'{"hello":"world"}'),
    ("plain", 200, b"plain"),
    ([1, True, None], 200, b"[1,true,null]"),
    ({"statusCode": 201, "body": "made"}, 201, b"made"),
    ({"statusCode": 204}, 204, b""),
    ({"statusCode": 200, "body": base64.b64encode(b"\x01\x02").decode(), "isBase64Encoded": True},
     200, b"\x01\x02"),
])
def test_response_mapping(server, public_url, returned, status, body):
    answer = send(server, public_url, "/return", "POST", json.dumps(returned).encode(),
                  {"Content-Type": "application/json"})
    assert (answer.status, answer.body) == (status, body)
    if status != 204:
        assert answer.headers["Content-Type"] == "application/json"


def test_headers_cookies_and_errors(server, public_url):
    full = {"statusCode": 418, "headers": {"X-Custom": "teapot", "Content-Type": "text/html"},
            "cookies": ["a=1; Max-Age=60", "b=2"], "body": "<p>short and stout</p>"}
    answer = send(server, public_url, "/return", "POST", json.dumps(full).encode(),
                  {"Content-Type": "application/json"})
    assert (answer.status, answer.body) == (418, b"<p>short and stout</p>")
    assert answer.headers["X-Custom"] == "teapot"
    assert answer.headers["Content-Type"] == "text/html"
    assert answer.headers.get_all("Set-Cookie") == ["a=1; Max-Age=60", "b=2"]
    failed = send(server, public_url, "/raise")
    assert (failed.status, failed.body) == (502, b"Internal Server Error")
    assert failed.headers["x-amzn-RequestId"]
    bad = send(server, public_url, "/return", "POST", b'{"statusCode": "abc"}',
               {"Content-Type": "application/json"})
    assert bad.status == 502


def test_aws_iam_url_needs_a_sigv4_signature(server, lambda_client, fn):
    url = lambda_client.create_function_url_config(FunctionName=fn, Qualifier="live",
                                                   AuthType="AWS_IAM")["FunctionUrl"]
    unsigned = send(server, url, "/x")
    assert (unsigned.status, unsigned.json()) == (403, {"Message": FORBIDDEN})

    def signed(secret: str, service: str = "lambda") -> Answer:
        request = AWSRequest(method="POST", url=url + "signed/p%20ath?q=1", data=b'{"k": 1}',
                             headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials("test", secret), service, "us-east-1").add_auth(request)
        return send(server, url, "/signed/p%20ath?q=1", "POST", b'{"k": 1}', dict(request.headers.items()))

    ok = signed("test")
    assert ok.status == 200, ok
    assert ok.json()["version"] == "1"                 # the URL of alias `live` runs version 1
    iam = ok.json()["event"]["requestContext"]["authorizer"]["iam"]
    assert (iam["accessKey"], iam["accountId"]) == ("test", "000000000000")
    assert ok.json()["event"]["rawPath"] == "/signed/p%20ath"
    wrong = signed("not-the-secret")
    assert wrong.status == 403 and wrong.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert signed("test", service="s3").status == 403


def test_cors(server, lambda_client, create_function):
    name = f"urlcors-{uuid.uuid4().hex[:8]}"
    create_function(name, {"handler.py": HANDLER})
    url = lambda_client.create_function_url_config(
        FunctionName=name, AuthType="NONE",
        Cors={"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
              "AllowHeaders": ["x-token"], "ExposeHeaders": ["x-trace"], "MaxAge": 300,
              "AllowCredentials": True})["FunctionUrl"]
    # Preflight is answered by the URL itself: no policy, no invocation needed.
    pre = send(server, url, "/any", "OPTIONS", headers={"Origin": "https://app.example",
                                                       "Access-Control-Request-Method": "POST"})
    assert pre.status == 200 and pre.body == b""
    assert pre.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert pre.headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert pre.headers["Access-Control-Allow-Headers"] == "x-token"
    assert pre.headers["Access-Control-Max-Age"] == "300"
    assert pre.headers["Access-Control-Allow-Credentials"] == "true"
    other = send(server, url, "/any", "OPTIONS", headers={"Origin": "https://evil.example",
                                                         "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in other.headers

    lambda_client.add_permission(FunctionName=name, StatementId="public", Action="lambda:InvokeFunctionUrl",
                                 Principal="*", FunctionUrlAuthType="NONE")
    reply = {"statusCode": 200, "headers": {"Access-Control-Allow-Origin": "*"}, "body": "x"}
    answer = send(server, url, "/return", "POST", json.dumps(reply).encode(),
                  {"Origin": "https://app.example", "Content-Type": "application/json"})
    assert answer.status == 200
    assert answer.headers.get_all("Access-Control-Allow-Origin") == ["https://app.example"]
    assert answer.headers["Access-Control-Expose-Headers"] == "x-trace"

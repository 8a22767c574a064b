"""The Lambda API through a real server: lifecycle, persistence, auth, code download."""

from __future__ import annotations

import json
import os
import urllib.request
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ROLE, Server, make_zip

ECHO = "def handler(event, context):\n    return event\n"


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_state_survives_a_restart(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        client = srv.client()
        client.create_function(FunctionName="persist", Runtime="python3.12", Role=ROLE,
                               Handler="handler.handler", Code={"ZipFile": make_zip({"handler.py": ECHO})},
                               Publish=True)
        client.get_waiter("function_active_v2").wait(FunctionName="persist",
                                                      WaiterConfig={"Delay": 0.2})
        client.create_alias(FunctionName="persist", Name="live", FunctionVersion="1")
    finally:
        srv.stop()
    again = Server(tmp_path / "data").start()
    try:
        client = again.client()
        conf = client.get_function_configuration(FunctionName="persist", Qualifier="live")
        assert conf["Version"] == "1" and conf["State"] == "Active"
        resp = client.invoke(FunctionName="persist", Qualifier="live", Payload=b'{"after": "restart"}')
        assert json.load(resp["Payload"]) == {"after": "restart"}
        assert resp["ExecutedVersion"] == "1"
    finally:
        again.stop()


def test_unsigned_and_badly_signed_requests_are_rejected(server):
    with pytest.raises(urllib.request.HTTPError) as exc:
        urllib.request.urlopen(f"{server.endpoint}/2015-03-31/functions")
    assert exc.value.code == 403
    assert exc.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    exc.value.close()
    bad = boto3.client("lambda", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="wrong",
                       config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as err:
        bad.list_functions()
    assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    unknown = boto3.client("lambda", endpoint_url=server.endpoint, region_name="us-east-1",
                           aws_access_key_id="nobody", aws_secret_access_key="test",
                           config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as err:
        unknown.list_functions()
    assert err.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_percent_encoded_arn_paths_verify(lambda_client, create_function):
    fn = name("arnpath")
    arn = create_function(fn, {"handler.py": ECHO})["FunctionArn"]
    # boto3 sends the ARN percent-encoded in the path; the signature is over the raw path
    assert lambda_client.get_function(FunctionName=arn)["Configuration"]["FunctionName"] == fn
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {}


def test_code_location_downloads_the_zip(lambda_client, create_function):
    fn = name("code")
    package = make_zip({"handler.py": ECHO})
    create_function(fn, {"handler.py": ECHO})
    location = lambda_client.get_function(FunctionName=fn)["Code"]["Location"]
    with urllib.request.urlopen(location) as resp:
        assert resp.read() == package
    with pytest.raises(urllib.request.HTTPError) as exc:
        urllib.request.urlopen(location.split("?")[0] + "?token=forged")
    assert exc.value.code == 403
    exc.value.close()


def test_update_in_progress_and_waiters(lambda_client, create_function):
    fn = name("upd")
    create_function(fn, {"handler.py": ECHO})
    first = lambda_client.update_function_configuration(FunctionName=fn, MemorySize=256)
    assert first["LastUpdateStatus"] == "InProgress"
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=fn, WaiterConfig={"Delay": 0.2})
    conf = lambda_client.get_function_configuration(FunctionName=fn)
    assert conf["LastUpdateStatus"] == "Successful" and conf["MemorySize"] == 256


def test_unknown_runtime_and_deprecated_runtime(lambda_client):
    with pytest.raises(ClientError) as err:
        lambda_client.create_function(FunctionName=name("old"), Runtime="go1.x", Role=ROLE,
                                      Handler="bootstrap", Code={"ZipFile": make_zip({"bootstrap": "x"})})
    assert err.value.response["Error"]["Message"].startswith(
        "The runtime parameter of go1.x is no longer supported")


def test_logs_api_and_cli(server, lambda_client, create_function):
    import subprocess
    import sys
    fn = name("logs")
    create_function(fn, {"handler.py": "def handler(e, c):\n    print('log-marker-42')\n    return 1\n"})
    lambda_client.invoke(FunctionName=fn, Payload=b"{}")
    out = subprocess.run([sys.executable, "-m", "lamina.cli.main", "logs", fn, "--endpoint-url",
                          server.endpoint], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "log-marker-42" in out.stdout
    assert "START RequestId:" in out.stdout and "REPORT RequestId:" in out.stdout
    streams = server.client("logs").describe_log_streams(logGroupName=f"/aws/lambda/{fn}")["logStreams"]
    assert streams and streams[0]["logStreamName"].split("]")[0].endswith("[$LATEST")


def test_account_settings(lambda_client):
    settings = lambda_client.get_account_settings()
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert settings["AccountUsage"]["FunctionCount"] >= 0


def test_sts_get_caller_identity(server):
    identity = server.client("sts").get_caller_identity()
    assert identity["Account"] == "000000000000"
    assert identity["Arn"] == "arn:aws:iam::000000000000:root"


def test_create_function_request_over_the_request_limit(lambda_client):
    # A 53 MB zip is 70.7 MB once base64-encoded in the JSON body: past AWS's request limit
    # (recorded: "Request must be smaller than 70167211 bytes for the CreateFunction operation").
    package = make_zip({"handler.py": ECHO, "pad.bin": os.urandom(53 * 1024 * 1024)})
    assert len(package) > 53 * 1024 * 1024, "random bytes do not compress"
    with pytest.raises(ClientError) as err:
        lambda_client.create_function(FunctionName=name("huge"), Runtime="python3.12", Role=ROLE,
                                      Handler="handler.handler", Code={"ZipFile": package})
    error = err.value.response
    assert error["Error"]["Code"] == "RequestEntityTooLargeException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error["Error"]["Message"] == (
        "Request must be smaller than 70167211 bytes for the CreateFunction operation")

"""Function code and layer content from S3: a real moto_server as the S3 peer.

The test starts `python -m moto.server` on a free loopback port and a Lamina
server with `--aws-endpoint-url` pointing at it, uploads zips with boto3, and
creates, updates and invokes functions whose code and layers come from there.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, Server, free_port, make_zip
from tests.moto_server import MotoServer

HANDLER = 'def handler(event, context):\n    return {"version": "%s"}\n'
LAYER_HANDLER = ('import from_s3_layer\n'
                 'def handler(event, context):\n'
                 '    return {"value": from_s3_layer.VALUE, "file": from_s3_layer.__file__}\n')


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    moto = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log")
    yield moto.endpoint
    moto.stop()


@pytest.fixture(scope="module")
def lamina(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("lamina-s3") / "data", "--aws-endpoint-url", moto_url,
                 env={"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def s3(moto_url: str) -> Any:
    return boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


@pytest.fixture(scope="module")
def bucket(s3: Any) -> str:
    name = f"code-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def _wait(client: Any, name: str, waiter: str) -> None:
    client.get_waiter(waiter).wait(FunctionName=name,
                                   WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})


def _invoke(client: Any, name: str) -> dict:
    resp = client.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, body
    return body


def test_code_from_s3_create_update_and_object_versions(lamina: Server, s3: Any,
                                                        bucket: str) -> None:
    client = lamina.client()
    key = "fn/code.zip"
    first = s3.put_object(Bucket=bucket, Key=key, Body=make_zip({"handler.py": HANDLER % "one"}))
    s3.put_object(Bucket=bucket, Key=key, Body=make_zip({"handler.py": HANDLER % "two"}))

    name = f"s3fn-{uuid.uuid4().hex[:8]}"
    created = client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                                     Handler="handler.handler",
                                     Code={"S3Bucket": bucket, "S3Key": key})
    assert created["CodeSize"] == len(make_zip({"handler.py": HANDLER % "two"}))
    _wait(client, name, "function_active_v2")
    assert _invoke(client, name) == {"version": "two"}, "the newest object version by default"

    client.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key=key,
                                S3ObjectVersion=first["VersionId"])
    _wait(client, name, "function_updated_v2")
    assert _invoke(client, name) == {"version": "one"}
    client.delete_function(FunctionName=name)


@pytest.mark.parametrize("where, code, message", [
    ({"S3Key": "no/such/key.zip"}, "NoSuchKey", "The specified key does not exist."),
    ({"S3Bucket": "no-such-bucket-lamina"}, "NoSuchBucket", "The specified bucket does not exist"),
])
def test_s3_errors_are_awss(lamina: Server, bucket: str, where: dict[str, str], code: str,
                            message: str) -> None:
    client = lamina.client()
    location = {"S3Bucket": bucket, "S3Key": "whatever.zip", **where}
    with pytest.raises(ClientError) as info:
        client.create_function(FunctionName=f"s3err-{uuid.uuid4().hex[:8]}", Runtime="python3.12",
                               Role=ROLE, Handler="handler.handler", Code=location)
    error = info.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"] == (f"Error occurred while GetObject. S3 Error Code: {code}. "
                                f"S3 Error Message: {message}")
    with pytest.raises(ClientError) as info:
        client.publish_layer_version(LayerName=f"s3err-{uuid.uuid4().hex[:8]}", Content=location)
    assert info.value.response["Error"]["Message"].startswith(
        f"Error occurred while GetObject. S3 Error Code: {code}.")


def test_layer_content_from_s3(lamina: Server, s3: Any, bucket: str) -> None:
    client = lamina.client()
    layer_zip = make_zip({"python/from_s3_layer.py": 'VALUE = "s3-layer"\n'})
    s3.put_object(Bucket=bucket, Key="/layers/probe.zip", Body=layer_zip)
    layer_name = f"s3layer-{uuid.uuid4().hex[:8]}"
    layer = client.publish_layer_version(LayerName=layer_name,
                                         Content={"S3Bucket": bucket, "S3Key": "/layers/probe.zip"})
    assert layer["Content"]["CodeSize"] == len(layer_zip)
    assert "CompatibleRuntimes" not in layer and layer["Description"] == ""

    name = f"s3layerfn-{uuid.uuid4().hex[:8]}"
    client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                           Handler="handler.handler",
                           Code={"ZipFile": make_zip({"handler.py": LAYER_HANDLER})},
                           Layers=[layer["LayerVersionArn"]])
    _wait(client, name, "function_active_v2")
    assert _invoke(client, name) == {"value": "s3-layer",
                                     "file": "/opt/python/from_s3_layer.py"}
    client.delete_function(FunctionName=name)
    client.delete_layer_version(LayerName=layer_name, VersionNumber=1)


def test_unreachable_s3_endpoint(tmp_path: Path) -> None:
    """A dead endpoint is a clean InvalidParameterValueException, not a server error."""
    dead = f"http://127.0.0.1:{free_port()}"
    srv = Server(tmp_path / "data", "--aws-endpoint-url", dead).start()
    try:
        with pytest.raises(ClientError) as info:
            srv.client().create_function(FunctionName="unreachable", Runtime="python3.12", Role=ROLE,
                                         Handler="handler.handler",
                                         Code={"S3Bucket": "bucket", "S3Key": "k.zip"})
        error = info.value.response["Error"]
        assert error["Code"] == "InvalidParameterValueException"
        assert error["Message"].startswith(
            "Error occurred while GetObject. S3 Error Code: ServiceUnavailable.")
    finally:
        srv.stop()

"""A Go function built against the real github.com/aws/aws-lambda-go (lambda.Start)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "go"

pytestmark = pytest.mark.skipif(shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists(),
                                reason="no Go toolchain on this host")


@pytest.fixture(scope="session")
def go_bootstrap(tmp_path_factory) -> bytes:
    work = tmp_path_factory.mktemp("gofn")
    shutil.copytree(FIXTURE, work, dirs_exist_ok=True)
    go = shutil.which("go") or "/usr/local/go/bin/go"
    env = {**os.environ, "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "amd64", "GOFLAGS": "-mod=mod"}
    subprocess.run([go, "build", "-tags", "lambda.norpc", "-o", "bootstrap", "."], cwd=work, env=env,
                   check=True, timeout=600, capture_output=True)
    return (work / "bootstrap").read_bytes()


def test_go_function_with_aws_lambda_go(lambda_client, create_function, go_bootstrap):
    fn = f"go-{uuid.uuid4().hex[:8]}"
    create_function(fn, {"bootstrap": go_bootstrap}, runtime="provided.al2023", handler="bootstrap",
                    modes={"bootstrap": 0o755})
    resp = lambda_client.invoke(FunctionName=fn, Payload=json.dumps({"name": "gopher"}), LogType="Tail")
    assert "FunctionError" not in resp
    body = json.load(resp["Payload"])
    assert body == {"hello": "gopher", "rid": resp["ResponseMetadata"]["RequestId"], "fn": fn}
    assert "go says hi gopher" in base64.b64decode(resp["LogResult"]).decode()
    failed = lambda_client.invoke(FunctionName=fn, Payload=json.dumps({"name": "fail"}))
    assert failed["FunctionError"] == "Unhandled"
    error = json.load(failed["Payload"])
    assert error["errorMessage"] == "go failure for fail"
    assert error["errorType"] == "errorString"

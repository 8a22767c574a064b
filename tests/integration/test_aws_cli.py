"""The README's scenario, driven by the real AWS CLI (`aws --endpoint-url …`)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import uuid

import pytest

from tests.conftest import ROLE, make_zip

pytestmark = pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")


def cli_major() -> int:
    out = subprocess.run(["aws", "--version"], capture_output=True, text=True)
    return int((out.stdout or out.stderr).split("/")[1].split(".")[0])


def raw_payload() -> list[str]:
    """v2 needs to be told that --payload is raw JSON; v1 has no such option."""
    return ["--cli-binary-format", "raw-in-base64-out"] if cli_major() >= 2 else []


def aws(server, tmp_path, *args: str) -> dict:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1", "HOME": str(tmp_path)}
    out = subprocess.run(["aws", "--endpoint-url", server.endpoint, "--output", "json", *args],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else {}


def test_cli_create_invoke_publish_alias(server, tmp_path):
    fn = f"cli-{uuid.uuid4().hex[:8]}"
    (tmp_path / "function.zip").write_bytes(make_zip({
        "lambda_function.py": "def handler(event, context):\n"
                              "    print('hello from', context.function_name)\n"
                              "    return {'greeting': 'Hello, ' + event.get('name', 'world') + '!'}\n"}))
    created = aws(server, tmp_path, "lambda", "create-function", "--function-name", fn,
                  "--runtime", "python3.12", "--handler", "lambda_function.handler",
                  "--zip-file", "fileb://function.zip", "--role", ROLE)
    assert created["State"] == "Pending"
    aws(server, tmp_path, "lambda", "wait", "function-active-v2", "--function-name", fn)
    result = aws(server, tmp_path, "lambda", "invoke", "--function-name", fn,
                 *raw_payload(), "--payload", '{"name": "Lamina"}',
                 "--log-type", "Tail", "out.json")
    assert result["StatusCode"] == 200 and result["ExecutedVersion"] == "$LATEST"
    assert json.loads((tmp_path / "out.json").read_text()) == {"greeting": "Hello, Lamina!"}
    assert f"hello from {fn}" in base64.b64decode(result["LogResult"]).decode()
    version = aws(server, tmp_path, "lambda", "publish-version", "--function-name", fn)
    assert version["Version"] == "1"
    alias = aws(server, tmp_path, "lambda", "create-alias", "--function-name", fn, "--name", "live",
                "--function-version", "1")
    assert alias["AliasArn"].endswith(f":function:{fn}:live")
    via_alias = aws(server, tmp_path, "lambda", "invoke", "--function-name", f"{fn}:live",
                    *raw_payload(), "--payload", "{}", "alias.json")
    assert via_alias["ExecutedVersion"] == "1"
    listed = aws(server, tmp_path, "lambda", "list-functions")
    assert fn in [f["FunctionName"] for f in listed["Functions"]]
    aws(server, tmp_path, "lambda", "delete-function", "--function-name", fn)

"""Custom runtimes (`provided.al2023`): the official awslambdaric, a shell bootstrap, errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

BOOTSTRAP_RIC = """#!/bin/sh
# The official AWS Python runtime interface client, unchanged, as a custom runtime.
export PYTHONPATH=/var/task
exec /usr/bin/python3 -m awslambdaric "$_HANDLER"
"""

SHELL_BOOTSTRAP = """#!/bin/sh
# A complete custom runtime in POSIX shell and curl, as in AWS's tutorial.
set -eu
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
while true; do
  headers=$(mktemp)
  event=$(curl -sS -LD "$headers" "$api/next")
  rid=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$headers" | tr -d '[:space:]' | cut -d: -f2)
  echo "shell runtime got $event"
  curl -sS -X POST "$api/$rid/response" -d "{\\"echo\\": $event, \\"handler\\": \\"$_HANDLER\\"}" >/dev/null
done
"""


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def awslambdaric_dir(tmp_path_factory) -> Path:
    """awslambdaric from PyPI, for the host's /usr/bin/python3 (Debian's CPython 3.11)."""
    target = tmp_path_factory.mktemp("awslambdaric")
    version = subprocess.run(["/usr/bin/python3", "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
                             capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--target", str(target), "--python-version", version, "--only-binary=:all:",
                    "--platform", "manylinux2014_x86_64", "--implementation", "cp", "awslambdaric"],
                   check=True, timeout=300)
    return target


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def test_official_awslambdaric_runs_unchanged(lambda_client, create_function, awslambdaric_dir):
    files: dict[str, str | bytes] = dict(tree(awslambdaric_dir))
    files["bootstrap"] = BOOTSTRAP_RIC
    files["app.py"] = ("import os\n"
                       "def handler(event, context):\n"
                       "    print('ric says hi')\n"
                       "    if event.get('fail'):\n"
                       "        raise ValueError('ric failure')\n"
                       "    return {'echo': event, 'fn': context.function_name,\n"
                       "            'remaining': context.get_remaining_time_in_millis(),\n"
                       "            'rid': context.aws_request_id}\n")
    modes = {path: 0o755 for path in files if path == "bootstrap" or path.endswith(".so")}
    fn = name("ric")
    create_function(fn, files, runtime="provided.al2023", handler="app.handler", modes=modes,
                    Timeout=10)
    resp = lambda_client.invoke(FunctionName=fn, Payload=json.dumps({"x": 1}), LogType="Tail")
    body = json.load(resp["Payload"])
    assert "FunctionError" not in resp, body
    assert body["echo"] == {"x": 1} and body["fn"] == fn
    assert body["rid"] == resp["ResponseMetadata"]["RequestId"]
    assert 0 < body["remaining"] <= 10000
    import base64
    assert "ric says hi" in base64.b64decode(resp["LogResult"]).decode()
    failed = lambda_client.invoke(FunctionName=fn, Payload=json.dumps({"fail": True}))
    error = json.load(failed["Payload"])
    assert failed["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "ric failure"


def test_shell_script_bootstrap(lambda_client, create_function):
    fn = name("shell")
    create_function(fn, {"bootstrap": SHELL_BOOTSTRAP}, runtime="provided.al2023",
                    handler="my.handler", modes={"bootstrap": 0o755})
    for n in (1, 2):
        resp = lambda_client.invoke(FunctionName=fn, Payload=json.dumps({"n": n}))
        assert json.load(resp["Payload"]) == {"echo": {"n": n}, "handler": "my.handler"}


def test_missing_or_non_executable_bootstrap(lambda_client, create_function):
    fn = name("noboot")
    create_function(fn, {"readme.txt": "no bootstrap here"}, runtime="provided.al2023", handler="x")
    resp = lambda_client.invoke(FunctionName=fn, Payload=b"{}")
    body = json.load(resp["Payload"])
    assert resp["FunctionError"] == "Unhandled"
    assert body == {"errorType": "Runtime.InvalidEntrypoint",
                    "errorMessage": f"RequestId: {resp['ResponseMetadata']['RequestId']} Error: "
                                    "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"}
    fn2 = name("noexec")
    create_function(fn2, {"bootstrap": "#!/bin/sh\necho hi\n"}, runtime="provided.al2023", handler="x")
    body = json.load(lambda_client.invoke(FunctionName=fn2, Payload=b"{}")["Payload"])
    assert body["errorMessage"].endswith("fork/exec /var/task/bootstrap: permission denied")


NODE_RIC_VERSION = "3.3.0"    # the newest release whose engines field accepts Node.js 20


@pytest.fixture(scope="session")
def node_ric_files() -> dict[str, bytes]:
    """The official aws-lambda-ric from npm, built here (native code: cmake, g++, autotools).

    The build takes minutes, so it is cached across runs under LAMINA_TEST_CACHE.
    """
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    cache = Path(os.environ.get("LAMINA_TEST_CACHE", Path.home() / ".cache" / "lamina-tests"))
    prefix = cache / f"aws-lambda-ric-{NODE_RIC_VERSION}"
    package = prefix / "node_modules" / "aws-lambda-ric"
    if not (package / "dist" / "rapid-client.node").exists():
        shutil.rmtree(prefix, ignore_errors=True)
        prefix.mkdir(parents=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
                        f"aws-lambda-ric@{NODE_RIC_VERSION}"], check=True, timeout=1500,
                       capture_output=True)
    files: dict[str, bytes] = {}
    for part in ("bin", "dist"):
        for path in (package / part).rglob("*"):
            if path.is_file():
                files[f"node_modules/aws-lambda-ric/{path.relative_to(package)}"] = path.read_bytes()
    files["node_modules/aws-lambda-ric/package.json"] = (package / "package.json").read_bytes()
    return files


def test_official_node_aws_lambda_ric_runs_unchanged(lambda_client, create_function, node_ric_files):
    files: dict[str, str | bytes] = dict(node_ric_files)
    files["bootstrap"] = ("#!/bin/sh\n"
                          "# The official AWS Node.js runtime interface client, unchanged.\n"
                          "exec /usr/bin/node /var/task/node_modules/aws-lambda-ric/bin/index.mjs \"$_HANDLER\"\n")
    files["app.mjs"] = ("export const handler = async (event, context) => {\n"
                        "  console.log('node ric says hi');\n"
                        "  if (event.fail) throw new TypeError('node ric failure');\n"
                        "  return {echo: event, fn: context.functionName, rid: context.awsRequestId};\n"
                        "};\n")
    modes = {"bootstrap": 0o755, "node_modules/aws-lambda-ric/bin/index.mjs": 0o755}
    fn = name("noderic")
    create_function(fn, files, runtime="provided.al2023", handler="app.handler", modes=modes,
                    Timeout=10, MemorySize=256)
    resp = lambda_client.invoke(FunctionName=fn, Payload=json.dumps({"x": 2}), LogType="Tail")
    body = json.load(resp["Payload"])
    assert "FunctionError" not in resp, body
    assert body == {"echo": {"x": 2}, "fn": fn, "rid": resp["ResponseMetadata"]["RequestId"]}
    import base64
    assert "node ric says hi" in base64.b64decode(resp["LogResult"]).decode()
    failed = lambda_client.invoke(FunctionName=fn, Payload=json.dumps({"fail": True}))
    error = json.load(failed["Payload"])
    assert failed["FunctionError"] == "Unhandled"
    assert error["errorType"] == "TypeError" and error["errorMessage"] == "node ric failure"

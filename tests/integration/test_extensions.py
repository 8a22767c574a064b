"""External extensions (/opt/extensions) and the Extensions API: register, INVOKE, SHUTDOWN."""

from __future__ import annotations

import json
import time
import uuid

from tests.conftest import make_zip

EXTENSION = r'''#!/usr/bin/python3
import json, os, urllib.request

base = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2020-01-01/extension"
resp = urllib.request.urlopen(urllib.request.Request(
    f"{base}/register", data=json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
    headers={"Lambda-Extension-Name": "probe-ext"}, method="POST"))
ext_id = resp.headers["Lambda-Extension-Identifier"]

def record(entry):
    with open("/tmp/ext-events.jsonl", "a") as fh:
        fh.write(json.dumps(entry) + "\n")

record({"registered": json.load(resp)})
while True:
    event = json.load(urllib.request.urlopen(urllib.request.Request(
        f"{base}/event/next", headers={"Lambda-Extension-Identifier": ext_id})))
    record(event)
    if event["eventType"] == "SHUTDOWN":
        break
'''

HANDLER = r'''
import json, os, time

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    path = "/tmp/ext-events.jsonl"
    return [json.loads(line) for line in open(path)] if os.path.exists(path) else []
'''


def test_extension_gets_invoke_and_shutdown_events(lambda_client, create_function):
    layer = lambda_client.publish_layer_version(
        LayerName=f"ext-{uuid.uuid4().hex[:8]}",
        Content={"ZipFile": make_zip({"extensions/probe-ext": EXTENSION},
                                     modes={"extensions/probe-ext": 0o755})})
    fn = f"ext-{uuid.uuid4().hex[:8]}"
    create_function(fn, {"handler.py": HANDLER}, Layers=[layer["LayerVersionArn"]], Timeout=2)

    first = lambda_client.invoke(FunctionName=fn, Payload=b"{}")
    seen = json.load(first["Payload"])
    assert seen[0] == {"registered": {"functionName": fn, "functionVersion": "$LATEST",
                                      "handler": "handler.handler"}}, seen
    rid = first["ResponseMetadata"]["RequestId"]
    # The environment is busy until the extension is back in event/next (as on AWS); an
    # invocation arriving before that would get a second environment with its own /tmp.
    time.sleep(0.5)

    second = json.load(lambda_client.invoke(FunctionName=fn, Payload=b"{}")["Payload"])
    invokes = [e for e in second if e.get("eventType") == "INVOKE"]
    assert invokes and invokes[0]["requestId"] == rid, second
    assert invokes[0]["invokedFunctionArn"].endswith(f":function:{fn}")
    assert invokes[0]["tracing"]["type"] == "X-Amzn-Trace-Id"

    time.sleep(0.5)
    timed_out = lambda_client.invoke(FunctionName=fn, Payload=json.dumps({"sleep": 5}))
    assert json.load(timed_out["Payload"])["errorType"] == "Sandbox.Timedout"
    after = json.load(lambda_client.invoke(FunctionName=fn, Payload=b"{}")["Payload"])
    shutdowns = [e for e in after if e.get("eventType") == "SHUTDOWN"]
    assert shutdowns and shutdowns[0]["shutdownReason"] == "timeout", after
    assert sum(1 for e in after if "registered" in e) == 2, "the reset environment ran Init again"

"""What a function can and cannot reach, tested from inside real sandboxes."""

from __future__ import annotations

import json
import uuid

PROBE = r'''
import os, json, glob

def can_read(path):
    try:
        with open(path, "rb") as fh:
            fh.read(1)
        return True
    except OSError:
        return False

def can_write(path):
    try:
        with open(path, "w") as fh:
            fh.write("x")
        return True
    except OSError:
        return False

def handler(event, context):
    if event.get("write_tmp"):
        open("/tmp/secret.txt", "w").write(event["write_tmp"])
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    return {
        "read": {p: can_read(p) for p in event.get("read", [])},
        "write": {p: can_write(p) for p in event.get("write", [])},
        "exists": {p: os.path.exists(p) for p in event.get("exists", [])},
        "tmp": sorted(os.listdir("/tmp")),
        "pids": pids,
        "cmdlines": [open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace")
                     for p in pids if os.path.exists(f"/proc/{p}/cmdline")],
        "task": sorted(os.listdir("/var/task")),
        "root": sorted(os.listdir("/root")) if os.path.isdir("/root") else [],
        "uid": os.getuid(),
    }
'''


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def probe(client, fn, **event):
    resp = client.invoke(FunctionName=fn, Payload=json.dumps(event))
    assert "FunctionError" not in resp, resp["Payload"].read()
    return json.load(resp["Payload"])


def test_functions_cannot_see_each_other_or_the_host(server, lambda_client, create_function):
    a, b = name("iso-a"), name("iso-b")
    create_function(a, {"handler.py": PROBE, "a_secret.txt": "a"})
    create_function(b, {"handler.py": PROBE, "b_secret.txt": "b"})
    probe(lambda_client, a, write_tmp="only-a")
    seen = probe(lambda_client, b, read=[str(server.data_dir / "lamina.db"), "/root/.bashrc",
                                         "/etc/shadow", str(server.log_path)],
                 write=["/var/task/x", "/usr/x", "/etc/x", "/opt/x", "/tmp/ok"],
                 exists=[str(server.data_dir), "/home", "/work"])
    assert seen["task"] == ["b_secret.txt", "handler.py"], "only its own code"
    assert not any(seen["read"].values()), seen["read"]
    assert seen["write"] == {"/var/task/x": False, "/usr/x": False, "/etc/x": False, "/opt/x": False,
                             "/tmp/ok": True}
    assert not any(seen["exists"].values()), seen["exists"]
    # Only an interpreter prefix may show under /root (pyenv's, mounted read-only), nothing else.
    assert set(seen["root"]) <= {".pyenv"}, seen["root"]
    assert "secret.txt" not in seen["tmp"], "another function's /tmp is invisible"
    assert len(seen["pids"]) <= 4, seen["cmdlines"]
    assert not any("lamina" in c for c in seen["cmdlines"]), "host processes are invisible"


def test_fork_bomb_is_contained(lambda_client, create_function):
    bomb = ("import os\n"
            "def handler(event, context):\n"
            "    while True:\n"
            "        try:\n"
            "            os.fork()\n"
            "        except OSError:\n"
            "            pass\n")
    fn = name("forkbomb")
    create_function(fn, {"handler.py": bomb}, Timeout=3)
    resp = lambda_client.invoke(FunctionName=fn, Payload=b"{}")
    body = json.load(resp["Payload"])
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] in ("Sandbox.Timedout", "Runtime.ExitError"), body
    # the server still answers, and the next function runs normally
    other = name("after-bomb")
    create_function(other, {"handler.py": PROBE})
    assert probe(lambda_client, other)["task"] == ["handler.py"]


def test_memory_hog_is_contained(lambda_client, create_function):
    hog = ("def handler(event, context):\n"
           "    blocks = []\n"
           "    while True:\n"
           "        blocks.append(b'x' * (64 * 1024 * 1024))\n")
    fn = name("hog")
    create_function(fn, {"handler.py": hog}, MemorySize=256, Timeout=30)
    body = json.load(lambda_client.invoke(FunctionName=fn, Payload=b"{}")["Payload"])
    assert body["errorType"] == "Runtime.OutOfMemory", body
    assert lambda_client.get_account_settings()["AccountLimit"]["ConcurrentExecutions"] > 0


THIEF = r'''
import json, os, urllib.request, urllib.error

def handler(event, context):
    url = f"http://{event['victim']}/2018-06-01/runtime/invocation/next"
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return {"stolen": resp.read().decode()}
    except urllib.error.HTTPError as err:
        return {"refused": err.code}
    except OSError as err:
        return {"error": str(err)}
'''


def test_a_function_cannot_use_another_environments_runtime_api(lambda_client, create_function):
    victim, thief = name("victim"), name("thief")
    create_function(victim, {"handler.py": "import os\ndef handler(e, c):\n"
                                           "    return os.environ['AWS_LAMBDA_RUNTIME_API']\n"})
    create_function(thief, {"handler.py": THIEF}, Timeout=10)
    address = json.load(lambda_client.invoke(FunctionName=victim, Payload=b"{}")["Payload"])
    assert address.startswith("127.0.0.1:")
    attempt = json.load(lambda_client.invoke(FunctionName=thief,
                                             Payload=json.dumps({"victim": address}))["Payload"])
    assert "stolen" not in attempt and attempt.get("refused", 0) >= 400, attempt
    again = lambda_client.invoke(FunctionName=victim, Payload=b"{}")
    assert "FunctionError" not in again and json.load(again["Payload"]) == address

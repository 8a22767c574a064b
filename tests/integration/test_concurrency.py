"""Concurrency end to end: a real server, real bwrap sandboxes, boto3.

Overlap is measured from inside the functions: each returns the wall-clock
start and end of its handler (sandboxes share the host's clock), and the test
computes the largest number of intervals that overlap.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, Server, make_zip

SLEEPER = """
import os, time
INIT_TYPE = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")
INIT_AT = time.time()

def handler(event, context):
    start = time.time()
    time.sleep(event.get("sleep", 0))
    if event.get("marker"):
        print("marker", event["marker"])
    return {"start": start, "end": time.time(), "init_type": INIT_TYPE, "init_at": INIT_AT,
            "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"]}
"""

BROKEN_INIT = """
raise RuntimeError("cannot connect to the database")

def handler(event, context):
    return {}
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals],
                    key=lambda x: (x[0], x[1]))   # an end before a start at the same instant
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def invoke(client: Any, name: str, event: dict[str, Any], qualifier: str | None = None,
           tail: bool = False) -> tuple[dict[str, Any], str]:
    kwargs: dict[str, Any] = {"FunctionName": name, "Payload": json.dumps(event).encode()}
    if qualifier:
        kwargs["Qualifier"] = qualifier
    if tail:
        kwargs["LogType"] = "Tail"
    resp = client.invoke(**kwargs)
    assert "FunctionError" not in resp, resp["Payload"].read()
    log = base64.b64decode(resp.get("LogResult", "")).decode() if tail else ""
    return json.loads(resp["Payload"].read()), log


def report_line(log: str) -> str:
    return next(line for line in log.splitlines() if line.startswith("REPORT"))


def wait_status(client: Any, name: str, qualifier: str, wanted: str,
                timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        cfg = client.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        if cfg["Status"] == wanted:
            return cfg
        assert cfg["Status"] != "FAILED" or wanted == "FAILED", cfg
        assert time.monotonic() < deadline, f"still {cfg['Status']}: {cfg}"
        time.sleep(0.3)


def test_reserved_concurrency_caps_200_simultaneous_invocations(server, lambda_client,
                                                                create_function) -> None:
    name = unique("rc10")
    create_function(name, {"handler.py": SLEEPER})
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=10)
    client = server.client(max_pool_connections=250)
    gate = threading.Barrier(200)

    def one(_: int) -> tuple[str, Any]:
        gate.wait()
        try:
            resp = client.invoke(FunctionName=name, Payload=b'{"sleep": 1.5}')
            return "ok", json.loads(resp["Payload"].read())
        except ClientError as exc:
            return "throttled", (exc.response["ResponseMetadata"]["HTTPStatusCode"],
                                 exc.response["Error"]["Code"], exc.response.get("Reason"),
                                 exc.response["Error"]["Message"])

    with ThreadPoolExecutor(200) as pool:
        results = list(pool.map(one, range(200)))
    ok = [body for kind, body in results if kind == "ok"]
    throttled = [info for kind, info in results if kind == "throttled"]
    assert len(ok) + len(throttled) == 200
    assert len(ok) >= 10, f"only {len(ok)} ran"
    assert len(throttled) >= 100
    assert set(throttled) == {(429, "TooManyRequestsException",
                               "ReservedFunctionConcurrentInvocationLimitExceeded",
                               "Rate Exceeded.")}
    overlap = max_overlap([(b["start"], b["end"]) for b in ok])
    print(f"200 invocations: {len(ok)} ran, {len(throttled)} throttled, max overlap {overlap}")
    assert 1 < overlap <= 10, overlap

    # Sustained load on the warm environments: slots are released and reused all the time,
    # and the cap still holds.
    stop_at = time.monotonic() + 4

    def hammer(_: int) -> list[tuple[str, Any]]:
        out = []
        while time.monotonic() < stop_at:
            try:
                resp = client.invoke(FunctionName=name, Payload=b'{"sleep": 0.05}')
                out.append(("ok", json.loads(resp["Payload"].read())))
            except ClientError as exc:
                out.append(("throttled", exc.response.get("Reason")))
        return out

    with ThreadPoolExecutor(40) as pool:
        results = [r for chunk in pool.map(hammer, range(40)) for r in chunk]
    ok = [body for kind, body in results if kind == "ok"]
    reasons = {info for kind, info in results if kind == "throttled"}
    assert len(ok) > 40 and reasons == {"ReservedFunctionConcurrentInvocationLimitExceeded"}
    overlap = max_overlap([(b["start"], b["end"]) for b in ok])
    print(f"sustained: {len(ok)} ran, {len(results) - len(ok)} throttled, max overlap {overlap}")
    assert overlap <= 10, overlap


def test_reserved_concurrency_validations(lambda_client, create_function) -> None:
    name = unique("rcval")
    create_function(name, {"handler.py": SLEEPER}, Publish=True)
    with pytest.raises(ClientError) as err:
        lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=901)
    assert err.value.response["Error"]["Message"] == (
        "Specified ReservedConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [100].")
    before = lambda_client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    after = lambda_client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    assert after == before - 2
    with pytest.raises(ClientError) as err:
        lambda_client.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1",
                                                         ProvisionedConcurrentExecutions=3)
    assert err.value.response["Error"]["Message"] == (
        "Requested Provisioned Concurrency should not be greater than the "
        "reservedConcurrentExecution for function")
    lambda_client.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1",
                                                     ProvisionedConcurrentExecutions=2)
    with pytest.raises(ClientError) as err:
        lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"
    lambda_client.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    lambda_client.delete_function_concurrency(FunctionName=name)


def test_provisioned_environments_are_warm_spill_over_and_follow_the_alias(
        lambda_client, create_function) -> None:
    name = unique("pc")
    create_function(name, {"handler.py": SLEEPER}, Publish=True)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    put = lambda_client.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live",
                                                           ProvisionedConcurrentExecutions=2)
    assert put["Status"] == "IN_PROGRESS"
    asked = time.time()
    ready = wait_status(lambda_client, name, "live", "READY")
    assert ready["AllocatedProvisionedConcurrentExecutions"] == 2
    assert ready["AvailableProvisionedConcurrentExecutions"] == 2

    body, log = invoke(lambda_client, name, {}, qualifier="live", tail=True)
    assert body["init_type"] == "provisioned-concurrency"
    assert body["init_at"] < body["start"] and body["init_at"] < asked + 60
    assert "Init Duration" not in report_line(log)

    # Four at once: two on the provisioned environments, two spill over to on-demand ones.
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(
            lambda i: invoke(lambda_client, name, {"sleep": 2}, qualifier="live", tail=True),
            range(4)))
    kinds = Counter(body["init_type"] for body, _ in outcomes)
    assert kinds == {"provisioned-concurrency": 2, "on-demand": 2}
    for body, log in outcomes:
        cold = "Init Duration" in report_line(log)
        assert cold == (body["init_type"] == "on-demand")

    # Repointing the alias moves the provisioned concurrency to the new version.
    lambda_client.update_function_configuration(FunctionName=name, Description="v2")
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "2"
    lambda_client.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    wait_status(lambda_client, name, "live", "READY")
    body, log = invoke(lambda_client, name, {}, qualifier="live", tail=True)
    assert body["version"] == "2" and body["init_type"] == "provisioned-concurrency"
    assert "Init Duration" not in report_line(log)
    listed = lambda_client.list_provisioned_concurrency_configs(FunctionName=name)
    assert [c["FunctionArn"].rsplit(":", 1)[1] for c in listed["ProvisionedConcurrencyConfigs"]] \
        == ["live"]

    with pytest.raises(ClientError) as err:
        lambda_client.delete_function(FunctionName=name, Qualifier="2")
    assert err.value.response["Error"]["Message"] == \
        "Version is pointed by a Provisioned Concurrency alias"
    with pytest.raises(ClientError) as err:
        lambda_client.put_provisioned_concurrency_config(FunctionName=name, Qualifier="2",
                                                         ProvisionedConcurrentExecutions=1)
    assert err.value.response["Error"]["Code"] == "ResourceConflictException"

    lambda_client.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    body, _ = invoke(lambda_client, name, {}, qualifier="live")
    assert body["init_type"] == "on-demand"
    lambda_client.delete_function(FunctionName=name, Qualifier="1")


def test_provisioned_init_failure_is_reported(lambda_client, create_function) -> None:
    name = unique("pcfail")
    create_function(name, {"handler.py": BROKEN_INIT}, Publish=True)
    lambda_client.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1",
                                                     ProvisionedConcurrentExecutions=1)
    failed = wait_status(lambda_client, name, "1", "FAILED")
    assert "cannot connect to the database" in failed["StatusReason"]
    assert failed["AllocatedProvisionedConcurrentExecutions"] == 0


class SettingsServer(Server):
    """A server with Settings the CLI has no flags for (scaling rate and mode)."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        super().__init__(data_dir)
        self.settings = settings

    def start(self) -> SettingsServer:
        code = ("import asyncio, sys; from pathlib import Path; from lamina.server import serve; "
                "from lamina.settings import Settings; "
                f"asyncio.run(serve(Settings(port={self.port}, data_dir=Path(sys.argv[1]), "
                f"**{self.settings!r})))")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(self.data_dir)],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(self.log())


def _burst(client: Any, names: list[str]) -> list[Any]:
    def one(name: str) -> Any:
        try:
            client.invoke(FunctionName=name, Payload=b'{"sleep": 1}')
            return "ok"
        except ClientError as exc:
            return (exc.response.get("Reason"),
                    exc.response["ResponseMetadata"]["HTTPHeaders"].get("retry-after"))
    with ThreadPoolExecutor(len(names)) as pool:
        return list(pool.map(one, names))


def _make(client: Any, name: str) -> None:
    client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                           Handler="handler.handler", Code={"ZipFile": make_zip({"handler.py": SLEEPER})})
    client.get_waiter("function_active_v2").wait(FunctionName=name,
                                                 WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})


def test_scaling_rate_throttles_new_environments_only(tmp_path) -> None:
    srv = SettingsServer(tmp_path / "data", scaling_per_10s=2).start()
    try:
        client = srv.client(max_pool_connections=20)
        _make(client, "scaler")
        results = _burst(client, ["scaler"] * 5)
        assert results.count("ok") == 2
        assert sorted(r for r in results if r != "ok") == \
            [("FunctionInvocationRateLimitExceeded", "5")] * 3   # 1 token per 5 s
        # Warm environments need no new token: two at a time keep succeeding.
        for _ in range(2):
            assert _burst(client, ["scaler"] * 2) == ["ok", "ok"]
    finally:
        srv.stop()


def test_legacy_burst_is_shared_by_the_account(tmp_path) -> None:
    srv = SettingsServer(tmp_path / "data", scaling_mode="legacy-burst", legacy_burst=2).start()
    try:
        client = srv.client(max_pool_connections=20)
        for name in ("one", "two", "three"):
            _make(client, name)
        results = _burst(client, ["one", "two", "three"])
        assert results.count("ok") == 2
        assert [r for r in results if r != "ok"] == [("FunctionInvocationRateLimitExceeded", "1")]
    finally:
        srv.stop()


def test_provisioned_environments_are_never_reaped(tmp_path) -> None:
    srv = SettingsServer(tmp_path / "data", keep_alive_s=1.0).start()
    try:
        client = srv.client()
        _make(client, "kept")
        client.publish_version(FunctionName="kept")
        client.put_provisioned_concurrency_config(FunctionName="kept", Qualifier="1",
                                                  ProvisionedConcurrentExecutions=1)
        wait_status(client, "kept", "1", "READY")
        invoke(client, "kept", {})                       # an on-demand environment of $LATEST
        time.sleep(3)                                    # three keep-alives
        body, log = invoke(client, "kept", {}, qualifier="1", tail=True)
        assert body["init_type"] == "provisioned-concurrency"
        assert "Init Duration" not in report_line(log)
        _, log = invoke(client, "kept", {}, tail=True)  # the on-demand one was reaped
        assert "Init Duration" in report_line(log)
    finally:
        srv.stop()


def test_deleting_an_alias_removes_its_provisioned_concurrency(lambda_client, create_function) -> None:
    name = unique("pcalias")
    create_function(name, {"handler.py": SLEEPER}, Publish=True)
    lambda_client.create_alias(FunctionName=name, Name="gone", FunctionVersion="1")
    lambda_client.put_provisioned_concurrency_config(FunctionName=name, Qualifier="gone",
                                                     ProvisionedConcurrentExecutions=1)
    wait_status(lambda_client, name, "gone", "READY")
    lambda_client.delete_alias(FunctionName=name, Name="gone")
    assert lambda_client.list_provisioned_concurrency_configs(
        FunctionName=name)["ProvisionedConcurrencyConfigs"] == []
    body, log = invoke(lambda_client, name, {}, qualifier="1", tail=True)
    assert body["init_type"] == "on-demand" and "Init Duration" in report_line(log)


def test_a_provisioned_environment_is_warmed_again_after_a_timeout(lambda_client,
                                                                   create_function) -> None:
    name = unique("pcreset")
    create_function(name, {"handler.py": SLEEPER}, Publish=True, Timeout=1)
    lambda_client.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1",
                                                     ProvisionedConcurrentExecutions=1)
    wait_status(lambda_client, name, "1", "READY")
    timed_out = lambda_client.invoke(FunctionName=name, Qualifier="1", Payload=b'{"sleep": 3}')
    assert timed_out["FunctionError"] == "Unhandled"
    assert "Task timed out" in timed_out["Payload"].read().decode()
    time.sleep(2)                       # the reset environment runs Init again in the background
    body, log = invoke(lambda_client, name, {}, qualifier="1", tail=True)
    assert body["init_type"] == "provisioned-concurrency"
    assert "Init Duration" not in report_line(log)

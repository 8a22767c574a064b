"""`lamina deploy`: gradual alias shifting against a real Lamina server.

The deployer runs with a fake clock (waits take no real time; each "sleep" lets the
test invoke the alias, as traffic during the shift would), or as the real CLI with a
tiny `--time-scale`. Everything else is real: the server, the sandboxes, UpdateAlias,
Invoke, CloudWatch GetMetricStatistics and CloudWatch Logs FilterLogEvents.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from lamina.deploy import configs
from lamina.deploy.alarms import LogErrorsAlarm, MetricAlarm
from lamina.deploy.shift import FAILED, SUCCEEDED, Deployer, Plan
from tests.conftest import ROOT, Server, make_zip

pytestmark = pytest.mark.timeout(120)

V1 = "def handler(event, context):\n    return {'v': 1}\n"
V2 = "def handler(event, context):\n    return {'v': 2}\n"
V2_BROKEN = "def handler(event, context):\n    raise RuntimeError('v2 is broken')\n"
HOOK = """import json
def handler(event, context):
    print("HOOK " + json.dumps(event))
    return {"status": "%s"}
"""


class FakeClock:
    """Virtual time: `sleep` advances it at once, then runs `on_sleep` (traffic meanwhile)."""

    def __init__(self, on_sleep: Callable[[], None] = lambda: None) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self.on_sleep = on_sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self.on_sleep()


@pytest.fixture
def two_versions(lambda_client: Any, create_function: Any) -> Callable[[str, str], str]:
    """A function with version 1 (V1) and 2 (`v2_code`) and alias `live` -> 1."""

    def make(name: str, v2_code: str = V2, **config: Any) -> str:
        create_function(name, {"handler.py": V1}, **config)
        assert lambda_client.publish_version(FunctionName=name)["Version"] == "1"
        lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip({"handler.py": v2_code}))
        lambda_client.get_waiter("function_updated_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        assert lambda_client.publish_version(FunctionName=name)["Version"] == "2"
        lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        return name

    return make


@pytest.fixture(scope="module")
def hooks(server: Server) -> dict[str, str]:
    client = server.client()
    names = {"ok": "deploy-hook-ok", "bad": "deploy-hook-bad"}
    for verdict, name in names.items():
        client.create_function(FunctionName=name, Runtime="python3.12", Handler="handler.handler",
                               Role="arn:aws:iam::000000000000:role/hook",
                               Code={"ZipFile": make_zip({"handler.py": HOOK % (
                                   "Succeeded" if verdict == "ok" else "Failed")})})
        client.get_waiter("function_active_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    yield names
    for name in names.values():
        client.delete_function(FunctionName=name)


def invoke_alias(client: Any, name: str, times: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    for _ in range(times):
        resp = client.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")
        resp["Payload"].read()
        seen[resp["ExecutedVersion"]] += 1
    return seen


def alias_state(client: Any, name: str) -> tuple[str, dict[str, float]]:
    alias = client.get_alias(FunctionName=name, Name="live")
    return alias["FunctionVersion"], (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights", {})


def test_linear_shift_sees_both_versions_and_ends_at_target(
        lambda_client: Any, two_versions: Any, hooks: dict[str, str]) -> None:
    name = two_versions("deploy-linear")
    observed: list[tuple[str, dict[str, float], Counter[str]]] = []

    def traffic() -> None:
        version, weights = alias_state(lambda_client, name)
        observed.append((version, weights, invoke_alias(lambda_client, name, 6)))

    clock = FakeClock(traffic)
    lines: list[str] = []
    plan = Plan(name, "live", "2", configs.custom(configs.LINEAR, "20:1"),
                before_hook=hooks["ok"], after_hook=hooks["ok"])
    outcome = Deployer(lambda_client, clock, say=lines.append).run(plan)

    assert outcome.status == SUCCEEDED, outcome.reason
    assert outcome.original_version == "1" and not outcome.rolled_back
    assert outcome.weights == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert clock.slept == [60.0, 60.0, 60.0, 60.0]          # virtual minutes between the steps
    assert [w for _, w, _ in observed] == [{"2": 0.2}, {"2": 0.4}, {"2": 0.6}, {"2": 0.8}]
    assert all(v == "1" for v, _, _ in observed)
    total = sum((c for _, _, c in observed), Counter())
    assert set(total) == {"1", "2"}, total                   # traffic during the shift hit both
    assert alias_state(lambda_client, name) == ("2", {})
    assert invoke_alias(lambda_client, name, 5) == Counter({"2": 5})
    assert any("BeforeAllowTraffic hook deploy-hook-ok: Succeeded" in ln for ln in lines)
    assert any("AfterAllowTraffic hook deploy-hook-ok: Succeeded" in ln for ln in lines)


def test_hook_receives_deployment_ids(server: Server, lambda_client: Any, two_versions: Any,
                                      hooks: dict[str, str]) -> None:
    name = two_versions("deploy-hook-event")
    plan = Plan(name, "live", "2", configs.named("AllAtOnce"), before_hook=hooks["ok"])
    start_ms = int(time.time() * 1000)
    outcome = Deployer(lambda_client, FakeClock()).run(plan)
    assert outcome.status == SUCCEEDED
    logs = server.client("logs")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{hooks['ok']}",
                                        startTime=start_ms)["events"]
        seen = [json.loads(e["message"][5:]) for e in events if e["message"].startswith("HOOK ")]
        if any(s["DeploymentId"] == outcome.deployment_id for s in seen):
            break
        time.sleep(0.1)
    event = next(s for s in seen if s["DeploymentId"] == outcome.deployment_id)
    assert set(event) == {"DeploymentId", "LifecycleEventHookExecutionId"}
    assert outcome.deployment_id.startswith("d-") and len(outcome.deployment_id) == 11


def test_failing_before_hook_leaves_alias_untouched(lambda_client: Any, two_versions: Any,
                                                    hooks: dict[str, str]) -> None:
    name = two_versions("deploy-before-fails")
    before = lambda_client.get_alias(FunctionName=name, Name="live")
    plan = Plan(name, "live", "2", configs.named("Canary10Percent5Minutes"), before_hook=hooks["bad"])
    outcome = Deployer(lambda_client, FakeClock()).run(plan)
    assert outcome.status == FAILED and not outcome.rolled_back and outcome.weights == []
    assert "BeforeAllowTraffic hook deploy-hook-bad reported status 'Failed'" in (outcome.reason or "")
    after = lambda_client.get_alias(FunctionName=name, Name="live")
    assert after["RevisionId"] == before["RevisionId"]       # not even rewritten
    assert alias_state(lambda_client, name) == ("1", {})


def test_failing_after_hook_rolls_back(lambda_client: Any, two_versions: Any,
                                       hooks: dict[str, str]) -> None:
    name = two_versions("deploy-after-fails")
    plan = Plan(name, "live", "2", configs.named("AllAtOnce"), after_hook=hooks["bad"])
    outcome = Deployer(lambda_client, FakeClock()).run(plan)
    assert outcome.status == FAILED and outcome.rolled_back and outcome.weights == [1.0]
    assert alias_state(lambda_client, name) == ("1", {})


@pytest.mark.parametrize("source", ["metrics", "logs-text", "logs-json"])
def test_alarm_on_erroring_target_rolls_back(server: Server, lambda_client: Any, two_versions: Any,
                                             source: str) -> None:
    log_format = {"LoggingConfig": {"LogFormat": "JSON"}} if source == "logs-json" else {}
    name = two_versions(f"deploy-alarm-{source}", V2_BROKEN, **log_format)
    hits: Counter[str] = Counter()

    def traffic() -> None:
        # Invoke through the alias until the canary version has run (and failed) at least once.
        for _ in range(100):
            hits.update(invoke_alias(lambda_client, name, 1))
            if hits["2"]:
                break
        time.sleep(0.3)   # log lines are collected asynchronously from the sandbox

    alarm = (MetricAlarm(server.client("cloudwatch"), name, "live", "2", "Errors", 0.0)
             if source == "metrics" else LogErrorsAlarm(server.client("logs"), name, "2", 0.0))
    lines: list[str] = []
    plan = Plan(name, "live", "2", configs.custom(configs.CANARY, "50:10"))
    outcome = Deployer(lambda_client, FakeClock(traffic), alarms=[alarm], say=lines.append,
                       alarm_poll_s=30).run(plan)

    assert hits["2"] >= 1
    assert outcome.status == FAILED and outcome.rolled_back, lines
    assert outcome.weights == [0.5]                          # never reached 100%
    assert (outcome.reason or "").startswith("alarm: ")
    assert alias_state(lambda_client, name) == ("1", {})
    assert invoke_alias(lambda_client, name, 3) == Counter({"1": 3})


def test_cli_linear_with_tiny_time_scale(server: Server, lambda_client: Any, two_versions: Any,
                                         hooks: dict[str, str]) -> None:
    name = two_versions("deploy-cli")
    base = [sys.executable, "-m", "lamina.cli.main", "deploy", "shift", "--endpoint-url",
            server.endpoint, "--function", name, "--alias", "live", "--target-version", "2"]

    failed = subprocess.run([*base, "--before-hook", hooks["bad"]], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Failed" in failed.stdout and alias_state(lambda_client, name) == ("1", {})

    started = time.monotonic()
    done = subprocess.run(
        [*base, "--config", "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
         "--time-scale", "0.002", "--before-hook", hooks["ok"], "--after-hook", hooks["ok"],
         "--alarm-metric", "Errors", "--alarm-errors-via-logs", "--alarm-poll", "0.05"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert time.monotonic() - started < 30
    shifts = [ln for ln in done.stdout.splitlines() if "% on 2" in ln]
    assert len(shifts) == 10 and "10% on 2, 90% on 1" in shifts[0] and "100% on 2" in shifts[-1]
    assert "Succeeded" in done.stdout.splitlines()[-1]
    assert alias_state(lambda_client, name) == ("2", {})

    again = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "Skipped" in again.stdout

    bad = subprocess.run([*base, "--canary", "10"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "PERCENT:MINUTES" in bad.stderr


TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
Resources:
  PreTraffic:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: deploy-tpl-pre
      CodeUri: hook/
      Handler: handler.handler
  App:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: deploy-tpl-app
      CodeUri: app/
      Handler: handler.handler
      MemorySize: 256
      Environment:
        Variables: {GREETING: hi}
      AutoPublishAlias: live
      DeploymentPreference:
        Type: Linear10PercentEvery1Minute
        Hooks:
          PreTraffic: !Ref PreTraffic
        Alarms:
          - !Ref AppErrors
  AppErrors:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/Lambda
      MetricName: Errors
      Statistic: Sum
      Threshold: 1
      ComparisonOperator: GreaterThanOrEqualToThreshold
"""


def test_template_deploy(server: Server, lambda_client: Any, tmp_path: Any) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "hook").mkdir()
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "hook" / "handler.py").write_text(HOOK % "Succeeded")

    def deploy(app_code: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / "app" / "handler.py").write_text(app_code)
        return subprocess.run(
            [sys.executable, "-m", "lamina.cli.main", "deploy", "template", "--endpoint-url",
             server.endpoint, "--file", str(tmp_path / "template.yaml"), "--time-scale", "0.002",
             "--alarm-poll", "0.05"], cwd=ROOT, capture_output=True, text=True, timeout=60)

    try:
        first = deploy(V1)
        assert first.returncode == 0, first.stdout + first.stderr
        assert alias_state(lambda_client, "deploy-tpl-app") == ("1", {})
        config = lambda_client.get_function_configuration(FunctionName="deploy-tpl-app", Qualifier="1")
        assert config["MemorySize"] == 256 and config["Timeout"] == 10
        assert config["Environment"]["Variables"] == {"GREETING": "hi"}

        same = deploy(V1)           # unchanged code: no new version, nothing to shift
        assert same.returncode == 0 and "Skipped" in same.stdout, same.stdout + same.stderr

        second = deploy(V2)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "BeforeAllowTraffic hook deploy-tpl-pre: Succeeded" in second.stdout
        assert len([ln for ln in second.stdout.splitlines() if "% on 2" in ln]) == 10
        assert alias_state(lambda_client, "deploy-tpl-app") == ("2", {})

        (tmp_path / "hook" / "handler.py").write_text(HOOK % "Failed")
        third = deploy(V1.replace("'v': 1", "'v': 3"))
        assert third.returncode == 1, third.stdout + third.stderr
        assert alias_state(lambda_client, "deploy-tpl-app") == ("2", {})   # untouched
    finally:
        for name in ("deploy-tpl-app", "deploy-tpl-pre"):
            try:
                lambda_client.delete_function(FunctionName=name)
            except lambda_client.exceptions.ResourceNotFoundException:
                pass

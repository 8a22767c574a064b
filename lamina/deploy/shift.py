"""The deployer: move an alias from its current version to a target version, gradually.

What CodeDeploy does for the Lambda compute platform, done client-side with the public
Lambda API (`GetAlias`, `UpdateAlias`, `Invoke`), so it works against any Lambda
endpoint — Lamina or AWS:

1. BeforeAllowTraffic: invoke the hook function with `{DeploymentId,
   LifecycleEventHookExecutionId}`. A failure here ends the deployment with the alias
   untouched.
2. Shift: for each `(offset, weight)` step of the schedule (`configs.schedule`), wait
   until `offset × time_scale` seconds after the start, checking the alarms while
   waiting, then `UpdateAlias` — `RoutingConfig.AdditionalVersionWeights={target:
   weight}` on the original version, and for the last step `FunctionVersion=target`
   with no routing.
3. AfterAllowTraffic hook, then a last alarm check.

Any failure after the first shift rolls back: the alias goes back to the original
version, 100%, no routing. Every `UpdateAlias` carries the `RevisionId` of the previous
one, so if someone else changes the alias during the deployment the deployer stops and
leaves their change alone instead of overwriting it.

Deviation from CodeDeploy (there is no CodeDeploy endpoint to call): a hook reports its
verdict by its own return value, `{"status": "Succeeded"}` or `{"status": "Failed"}`,
instead of calling `PutLifecycleEventHookExecutionStatus`. Anything else — an error, a
missing or other status — counts as Failed.

Time comes from an injected `Clock` so tests can run a real server with a fake clock;
the Lambda client and alarm sources are injected too.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from lamina.deploy.alarms import AlarmSource
from lamina.deploy.configs import ShiftConfig, schedule

SUCCEEDED, FAILED, SKIPPED = "Succeeded", "Failed", "Skipped"
BEFORE, AFTER = "BeforeAllowTraffic", "AfterAllowTraffic"


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class Plan:
    """What to deploy. `time_scale` multiplies every wait (0.001 turns minutes into 60 ms)."""

    function: str
    alias: str
    target_version: str
    config: ShiftConfig
    before_hook: str | None = None
    after_hook: str | None = None
    time_scale: float = 1.0


@dataclass
class Outcome:
    status: str                      # Succeeded, Failed or Skipped (already at the target)
    deployment_id: str
    original_version: str | None = None
    reason: str | None = None
    rolled_back: bool = False
    weights: list[float] = field(default_factory=list)   # the weights actually applied

    @property
    def ok(self) -> bool:
        return self.status != FAILED


class _Stop(Exception):
    """The deployment fails: `reason` says why; roll back unless `rollback` is False."""

    def __init__(self, reason: str, rollback: bool = True) -> None:
        super().__init__(reason)
        self.reason, self.rollback = reason, rollback


def new_deployment_id() -> str:
    # CodeDeploy's shape: d- and nine upper-case letters and digits.
    return "d-" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(9))


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code')}: {err.get('Message')}"
    return str(exc)


class Deployer:
    """Runs one `Plan` at a time. Not thread-safe; owns nothing that needs closing.

    `say` receives one line per event (hook results, each shift, alarms, rollback)."""

    def __init__(self, lambda_client: Any, clock: Clock | None = None,
                 alarms: Sequence[AlarmSource] = (), say: Callable[[str], None] | None = None,
                 alarm_poll_s: float = 10.0) -> None:
        self.client = lambda_client
        self.clock = clock or SystemClock()
        self.alarms = list(alarms)
        self.say = say or (lambda _line: None)
        self.alarm_poll_s = alarm_poll_s
        self._t0 = 0.0

    def _log(self, message: str) -> None:
        self.say(f"[{self.clock.monotonic() - self._t0:8.2f}s] {message}")

    def run(self, plan: Plan) -> Outcome:
        """Deploy; never raises for a failed deployment (see `Outcome.status`/`reason`)."""
        self._t0 = self.clock.monotonic()
        outcome = Outcome(FAILED, new_deployment_id())
        try:
            alias = self.client.get_alias(FunctionName=plan.function, Name=plan.alias)
            self.client.get_function_configuration(FunctionName=plan.function,
                                                   Qualifier=plan.target_version)
        except (ClientError, BotoCoreError) as exc:
            outcome.reason = _error_text(exc)
            return outcome
        original = outcome.original_version = alias["FunctionVersion"]
        if (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights"):
            outcome.reason = (f"alias {plan.alias} already routes traffic to two versions; "
                              "finish or roll back that shift first")
            return outcome
        if original == plan.target_version:
            outcome.status, outcome.reason = SKIPPED, f"alias already points at {original}"
            return outcome
        self._log(f"deployment {outcome.deployment_id}: {plan.function}:{plan.alias} "
                  f"{original} -> {plan.target_version} ({plan.config.kind})")
        revision = alias["RevisionId"]
        try:
            self._start_alarms()
            self._hook(plan.before_hook, BEFORE, outcome.deployment_id)
            for offset, weight in schedule(plan.config):
                self._watch_until(self._t0 + offset * plan.time_scale)
                revision = self._shift(plan, original, weight, revision)
                outcome.weights.append(weight)
            self._hook(plan.after_hook, AFTER, outcome.deployment_id)
            self._watch_until(self.clock.monotonic())
        except _Stop as stop:
            outcome.reason = stop.reason
            self._log(f"failed: {stop.reason}")
            if outcome.weights and stop.rollback:
                outcome.rolled_back = self._rollback(plan, original, revision)
            return outcome
        outcome.status = SUCCEEDED
        self._log(f"succeeded: {plan.alias} -> {plan.target_version}")
        return outcome

    # -- steps ------------------------------------------------------------------------------

    def _hook(self, function: str | None, lifecycle: str, deployment_id: str) -> None:
        if not function:
            return
        event = {"DeploymentId": deployment_id,
                 "LifecycleEventHookExecutionId": secrets.token_urlsafe(48)}
        try:
            resp = self.client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
            body = resp["Payload"].read()
        except (ClientError, BotoCoreError) as exc:
            raise _Stop(f"{lifecycle} hook {function}: {_error_text(exc)}") from None
        if resp.get("FunctionError"):
            raise _Stop(f"{lifecycle} hook {function} raised: {body[:300].decode(errors='replace')}")
        try:
            result = json.loads(body)
        except ValueError:
            result = None
        status = result.get("status") if isinstance(result, dict) else None
        if status != SUCCEEDED:
            raise _Stop(f"{lifecycle} hook {function} reported status {status!r}")
        self._log(f"{lifecycle} hook {function}: Succeeded")

    def _start_alarms(self) -> None:
        for source in self.alarms:
            try:
                source.start()
            except (ClientError, BotoCoreError) as exc:
                raise _Stop(f"alarm could not be read: {_error_text(exc)}") from None

    def _check_alarms(self) -> None:
        for source in self.alarms:
            try:
                reason = source.check()
            except (ClientError, BotoCoreError) as exc:
                # An alarm that cannot be read is not a green light.
                raise _Stop(f"alarm could not be read: {_error_text(exc)}") from None
            if reason:
                raise _Stop(f"alarm: {reason}")

    def _watch_until(self, deadline: float) -> None:
        """Check the alarms at least once, and every `alarm_poll_s` until `deadline`."""
        while True:
            self._check_alarms()
            left = deadline - self.clock.monotonic()
            if left <= 0:
                return
            self.clock.sleep(min(left, self.alarm_poll_s) if self.alarms else left)

    def _update(self, plan: Plan, version: str, weights: dict[str, float], revision: str) -> str:
        try:
            resp = self.client.update_alias(
                FunctionName=plan.function, Name=plan.alias, FunctionVersion=version,
                RoutingConfig={"AdditionalVersionWeights": weights}, RevisionId=revision)
        except self.client.exceptions.PreconditionFailedException:
            raise _Stop(f"alias {plan.alias} was changed by someone else during the deployment; "
                        "leaving it as they set it", rollback=False) from None
        except (ClientError, BotoCoreError) as exc:
            raise _Stop(f"UpdateAlias failed: {_error_text(exc)}") from None
        return str(resp["RevisionId"])

    def _shift(self, plan: Plan, original: str, weight: float, revision: str) -> str:
        if weight >= 1.0:
            revision = self._update(plan, plan.target_version, {}, revision)
            self._log(f"{plan.alias}: 100% on {plan.target_version}")
        else:
            revision = self._update(plan, original, {plan.target_version: weight}, revision)
            self._log(f"{plan.alias}: {weight:.0%} on {plan.target_version}, "
                      f"{1 - weight:.0%} on {original}")
        return revision

    def _rollback(self, plan: Plan, original: str, revision: str) -> bool:
        try:
            self._update(plan, original, {}, revision)
        except _Stop as stop:
            self._log(f"rollback failed: {stop.reason}")
            return False
        self._log(f"rolled back: {plan.alias} -> {original} (100%)")
        return True

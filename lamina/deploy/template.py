"""`lamina deploy template`: a tiny SAM subset — package, create/update, publish, shift.

Supported (everything else in the template is ignored, not rejected):

    Globals: {Function: {…any Function property below…}}
    Resources:
      <Logical>:
        Type: AWS::Serverless::Function
        Properties:
          FunctionName, CodeUri (a folder next to the template), Handler, Runtime, Role,
          MemorySize, Timeout, Description, Environment: {Variables: {…}},
          AutoPublishAlias: live
          DeploymentPreference:
            Type: Canary10Percent5Minutes | Linear10PercentEvery1Minute | AllAtOnce | …
            Enabled: true
            Hooks: {PreTraffic: !Ref HookFn, PostTraffic: !Ref HookFn}   # or function names
            Alarms: [!Ref ErrorsAlarm]
      <Alarm>:
        Type: AWS::CloudWatch::Alarm
        Properties: {Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum,
                     Threshold: 0, ComparisonOperator: GreaterThanThreshold}

What happens, as SAM + CloudFormation + CodeDeploy would do it: every function's folder
is zipped (fixed timestamps, so unchanged code keeps its CodeSha256), created or
updated; then each function with `AutoPublishAlias` gets a version published (an
unchanged function publishes no new version) and its alias moved: created at the new
version on the first deploy (no hooks, as SAM), else shifted by `shift.Deployer` with
the preference's schedule, hooks and alarms.

Deviations: alarms are not created in CloudWatch; each referenced alarm's metric,
statistic, threshold and comparison are evaluated by the deployer for the target
version of the function being deployed (its own `Dimensions` are not read). Hooks
report by return value (see `shift`).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lamina.deploy import configs
from lamina.deploy.alarms import AlarmSource, MetricAlarm
from lamina.deploy.shift import SUCCEEDED, Deployer, Outcome, Plan, new_deployment_id

FUNCTION = "AWS::Serverless::Function"
ALARM = "AWS::CloudWatch::Alarm"
CONFIG_KEYS = {"Handler": "Handler", "Runtime": "Runtime", "MemorySize": "MemorySize",
               "Timeout": "Timeout", "Description": "Description", "Role": "Role"}


class TemplateError(Exception):
    """The template cannot be read or uses something outside the subset."""


def load(path: str | Path) -> dict[str, Any]:
    """Parse YAML (or JSON) with CloudFormation's short tags: `!Ref X` -> {"Ref": "X"},
    `!GetAtt A.B` -> {"Fn::GetAtt": "A.B"}, `!Sub s` -> {"Fn::Sub": "s"}, …"""
    import yaml

    class Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type information
        pass

    def tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", tagged)
    try:
        doc = yaml.load(Path(path).read_text(), Loader=Loader)  # a SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise TemplateError(f"{path}: no Resources")
    return doc


def package(folder: Path) -> bytes:
    """A zip of `folder` with fixed timestamps and sorted entries: same files, same bytes."""
    if not folder.is_dir():
        raise TemplateError(f"CodeUri {folder} is not a folder")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


class _Template:
    def __init__(self, doc: dict[str, Any], base: Path) -> None:
        self.resources: dict[str, Any] = doc["Resources"]
        self.globals: dict[str, Any] = ((doc.get("Globals") or {}).get("Function")) or {}
        self.base = base

    def props(self, logical: str) -> dict[str, Any]:
        return {**self.globals, **(self.resources[logical].get("Properties") or {})}

    def functions(self) -> list[str]:
        return [k for k, r in self.resources.items() if r.get("Type") == FUNCTION]

    def name(self, logical: str) -> str:
        return str(self.props(logical).get("FunctionName") or logical)

    def ref(self, value: Any, want: str) -> tuple[str, dict[str, Any]] | str:
        """A `!Ref` to a resource of type `want` -> (logical id, resource); a plain string as is."""
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and set(value) == {"Ref"}:
            target = self.resources.get(value["Ref"])
            if target is None or target.get("Type") != want:
                raise TemplateError(f"!Ref {value['Ref']}: not a {want} in this template")
            return value["Ref"], target
        raise TemplateError(f"unsupported reference {value!r} (use !Ref or a name)")


def _config(t: _Template, logical: str, role: str) -> dict[str, Any]:
    props = t.props(logical)
    out = {api: props[key] for key, api in CONFIG_KEYS.items() if key in props}
    out.setdefault("Role", role)
    if "Environment" in props:
        out["Environment"] = {"Variables": {k: str(v) for k, v in
                                            ((props["Environment"] or {}).get("Variables") or {}).items()}}
    missing = [k for k in ("Handler", "Runtime") if k not in out]
    if missing or "CodeUri" not in props:
        raise TemplateError(f"{logical}: CodeUri, Handler and Runtime are required")
    return out


def _upsert(client: Any, t: _Template, logical: str, role: str, say: Callable[[str], None]) -> None:
    name = t.name(logical)
    config = _config(t, logical, role)
    code = package(t.base / str(t.props(logical)["CodeUri"]))
    waiter_args = {"FunctionName": name, "WaiterConfig": {"Delay": 1, "MaxAttempts": 300}}
    try:
        client.get_function(FunctionName=name)
    except client.exceptions.ResourceNotFoundException:
        client.create_function(FunctionName=name, Code={"ZipFile": code}, **config)
        client.get_waiter("function_active_v2").wait(**waiter_args)
        say(f"{name}: created")
        return
    client.update_function_code(FunctionName=name, ZipFile=code)
    client.get_waiter("function_updated_v2").wait(**waiter_args)
    client.update_function_configuration(FunctionName=name, **config)
    client.get_waiter("function_updated_v2").wait(**waiter_args)
    say(f"{name}: updated")


def _alarms(t: _Template, refs: list[Any], make_client: Callable[[str], Any], function: str,
            alias: str, version: str) -> list[AlarmSource]:
    out: list[AlarmSource] = []
    for value in refs:
        ref = t.ref(value, ALARM)
        if isinstance(ref, str):
            raise TemplateError(f"alarm {ref!r}: only !Ref to an {ALARM} in the template is supported")
        props = ref[1].get("Properties") or {}
        if props.get("Namespace", "AWS/Lambda") != "AWS/Lambda":
            raise TemplateError(f"alarm {ref[0]}: only Namespace AWS/Lambda is supported")
        comparison = props.get("ComparisonOperator", "GreaterThanThreshold")
        if comparison not in ("GreaterThanThreshold", "GreaterThanOrEqualToThreshold"):
            raise TemplateError(f"alarm {ref[0]}: ComparisonOperator {comparison} is not supported")
        out.append(MetricAlarm(make_client("cloudwatch"), function, alias, version,
                               str(props.get("MetricName", "Errors")), float(props.get("Threshold", 0)),
                               str(props.get("Statistic", "Sum")),
                               inclusive=comparison == "GreaterThanOrEqualToThreshold"))
    return out


def deploy_template(path: str | Path, make_client: Callable[[str], Any],
                    say: Callable[[str], None] = print, role: str | None = None,
                    time_scale: float = 1.0, alarm_poll_s: float = 10.0) -> list[Outcome]:
    """Deploy every function in the template; one `Outcome` per alias moved or created.

    Raises `TemplateError` for templates outside the subset; AWS errors while creating
    or updating functions propagate as botocore exceptions."""
    t = _Template(load(path), Path(path).resolve().parent)
    client = make_client("lambda")
    if role is None:
        account = make_client("sts").get_caller_identity()["Account"]
        role = f"arn:aws:iam::{account}:role/lambda-role"
    for logical in t.functions():
        _upsert(client, t, logical, role, say)
    outcomes: list[Outcome] = []
    for logical in t.functions():
        props = t.props(logical)
        alias = props.get("AutoPublishAlias")
        if not alias:
            continue
        name = t.name(logical)
        version = client.publish_version(FunctionName=name)["Version"]
        try:
            client.get_alias(FunctionName=name, Name=alias)
        except client.exceptions.ResourceNotFoundException:
            client.create_alias(FunctionName=name, Name=alias, FunctionVersion=version)
            outcomes.append(Outcome(SUCCEEDED, new_deployment_id(), None,
                                    f"alias {name}:{alias} created at version {version}"))
            say(f"{name}: alias {alias} -> {version} (first deployment, no shifting)")
            continue
        pref = props.get("DeploymentPreference") or {}
        if pref and pref.get("Enabled", True) is not False:
            hooks = pref.get("Hooks") or {}
            hook_names = {k: t.ref(v, FUNCTION) for k, v in hooks.items()}
            before, after = (h if isinstance(h, str) or h is None else t.name(h[0])
                             for h in (hook_names.get("PreTraffic"), hook_names.get("PostTraffic")))
            try:
                config = configs.named(str(pref.get("Type", "AllAtOnce")))
            except ValueError as exc:
                raise TemplateError(f"{logical}: {exc}") from None
            alarms = _alarms(t, list(pref.get("Alarms") or []), make_client, name, alias, version)
        else:
            before = after = None
            config, alarms = configs.named("AllAtOnce"), []
        plan = Plan(name, alias, version, config, before, after, time_scale)
        outcomes.append(Deployer(client, alarms=alarms, say=say, alarm_poll_s=alarm_poll_s).run(plan))
    return outcomes

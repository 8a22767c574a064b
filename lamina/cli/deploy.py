"""`lamina deploy`: client-side CodeDeploy-style alias traffic shifting.

    lamina deploy shift --function F --alias A --target-version V
        [--config CodeDeployDefault.LambdaCanary10Percent5Minutes | --canary PCT:MIN | --linear PCT:MIN]
        [--before-hook FN] [--after-hook FN]
        [--alarm-metric Errors --alarm-threshold N] [--alarm-errors-via-logs] [--time-scale X]
    lamina deploy template --file template.yaml

Talks to `--endpoint-url` with boto3 (Lambda, CloudWatch and CloudWatch Logs APIs);
`--endpoint-url aws` uses boto3's own endpoint and credential resolution, i.e. real AWS.
Exit status: 0 deployed (or nothing to do), 1 deployment failed (rolled back if it had
started shifting), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

DEFAULT_ENDPOINT = "http://127.0.0.1:9700"


def _add_connection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint-url", default=os.environ.get("LAMINA_ENDPOINT", DEFAULT_ENDPOINT),
                   help="Lambda endpoint (default $LAMINA_ENDPOINT or %(default)s); "
                        "'aws' for boto3's default (real AWS)")
    p.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))


def _add_shifting(p: argparse.ArgumentParser) -> None:
    how = p.add_mutually_exclusive_group()
    how.add_argument("--config", help="a CodeDeploy predefined config, e.g. "
                     "CodeDeployDefault.LambdaCanary10Percent5Minutes (default LambdaAllAtOnce)")
    how.add_argument("--canary", metavar="PCT:MINUTES", help="custom TimeBasedCanary")
    how.add_argument("--linear", metavar="PCT:MINUTES", help="custom TimeBasedLinear")
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="multiply every wait by this (0.01: a 5-minute canary takes 3 s)")
    p.add_argument("--alarm-poll", type=float, default=10.0,
                   help="seconds between alarm checks while waiting (default %(default)s)")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("deploy", help="shift an alias to a new version gradually, with rollback")
    steps = p.add_subparsers(dest="deploy_command", required=True)

    shift = steps.add_parser("shift", help="move an alias to a version (canary, linear, all at once)")
    _add_connection(shift)
    shift.add_argument("--function", required=True)
    shift.add_argument("--alias", required=True)
    shift.add_argument("--target-version", required=True)
    _add_shifting(shift)
    shift.add_argument("--before-hook", metavar="FN", help="BeforeAllowTraffic hook function")
    shift.add_argument("--after-hook", metavar="FN", help="AfterAllowTraffic hook function")
    shift.add_argument("--alarm-metric", metavar="METRIC",
                       help="roll back when this AWS/Lambda metric of the target version "
                            "exceeds --alarm-threshold (CloudWatch GetMetricStatistics)")
    shift.add_argument("--alarm-statistic", default="Sum",
                       choices=["Sum", "SampleCount", "Average", "Minimum", "Maximum"])
    shift.add_argument("--alarm-threshold", type=float, default=0.0,
                       help="alarm when the value is greater than this (default 0)")
    shift.add_argument("--alarm-errors-via-logs", action="store_true",
                       help="roll back when the target version's failed requests, counted from "
                            "its CloudWatch Logs streams, exceed --alarm-threshold")
    shift.set_defaults(run=run_shift)

    tpl = steps.add_parser("template", help="deploy a SAM-like template (AutoPublishAlias + "
                           "DeploymentPreference)")
    _add_connection(tpl)
    tpl.add_argument("--file", required=True, help="template.yaml")
    tpl.add_argument("--role", default=None,
                     help="execution role when the template has none "
                          "(default arn:aws:iam::<account>:role/lambda-role)")
    tpl.add_argument("--time-scale", type=float, default=1.0)
    tpl.add_argument("--alarm-poll", type=float, default=10.0)
    tpl.set_defaults(run=run_template)


def client(service: str, args: argparse.Namespace) -> Any:
    """A boto3 client for Lamina (test/test unless the environment says otherwise) or AWS."""
    import boto3
    from botocore.config import Config

    # Hooks may run for minutes; a deployment must not die on a read timeout.
    config = Config(read_timeout=900, retries={"max_attempts": 3, "mode": "standard"})
    if args.endpoint_url == "aws":
        return boto3.client(service, region_name=args.region, config=config)
    return boto3.client(service, endpoint_url=args.endpoint_url, region_name=args.region,
                        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
                        config=config)


def shift_config(args: argparse.Namespace) -> Any:
    from lamina.deploy import configs

    if args.canary:
        return configs.custom(configs.CANARY, args.canary)
    if args.linear:
        return configs.custom(configs.LINEAR, args.linear)
    return configs.named(args.config or "CodeDeployDefault.LambdaAllAtOnce")


def _say(line: str) -> None:
    print(line, flush=True)


def _finish(outcome: Any) -> int:
    tail = " (rolled back)" if outcome.rolled_back else ""
    print(f"deployment {outcome.deployment_id}: {outcome.status}{tail}"
          + (f": {outcome.reason}" if outcome.reason else ""), flush=True)
    return 0 if outcome.ok else 1


def run_shift(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from lamina.deploy.alarms import AlarmSource, LogErrorsAlarm, MetricAlarm, log_group_of
    from lamina.deploy.shift import Deployer, Plan

    try:
        config = shift_config(args)
    except ValueError as exc:
        print(f"lamina deploy: {exc}", file=sys.stderr)
        return 2
    lambda_client = client("lambda", args)
    alarms: list[AlarmSource] = []
    if args.alarm_metric:
        alarms.append(MetricAlarm(client("cloudwatch", args), args.function, args.alias,
                                  args.target_version, args.alarm_metric, args.alarm_threshold,
                                  args.alarm_statistic))
    if args.alarm_errors_via_logs:
        try:
            group = log_group_of(lambda_client, args.function, args.target_version)
        except (ClientError, BotoCoreError) as exc:
            print(f"lamina deploy: cannot read {args.function}:{args.target_version}: {exc}",
                  file=sys.stderr)
            return 1
        alarms.append(LogErrorsAlarm(client("logs", args), args.function, args.target_version,
                                     args.alarm_threshold, group))
    plan = Plan(args.function, args.alias, args.target_version, config,
                args.before_hook, args.after_hook, args.time_scale)
    deployer = Deployer(lambda_client, alarms=alarms, say=_say, alarm_poll_s=args.alarm_poll)
    return _finish(deployer.run(plan))


def run_template(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from lamina.deploy.template import TemplateError, deploy_template

    try:
        outcomes = deploy_template(args.file, lambda service: client(service, args), say=_say,
                                   role=args.role, time_scale=args.time_scale,
                                   alarm_poll_s=args.alarm_poll)
    except TemplateError as exc:
        print(f"lamina deploy: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"lamina deploy: {exc}", file=sys.stderr)
        return 1
    codes = [_finish(o) for o in outcomes]
    return max(codes, default=0)

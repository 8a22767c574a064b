"""Metrics end to end: invoke through boto3, read back through CloudWatch and Prometheus."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import ROLE, make_zip

HANDLER = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
"""
FN, THROTTLED = "metrics-fn", "metrics-throttled"


@pytest.fixture(scope="module")
def invoked(server, lambda_client):  # type: ignore[no-untyped-def]
    """3 successes, 1 error, 1 alias invocation and 1 throttle, made once for the module."""
    for name in (FN, THROTTLED):
        lambda_client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                                      Handler="handler.handler",
                                      Code={"ZipFile": make_zip({"handler.py": HANDLER})})
        lambda_client.get_waiter("function_active_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    version = lambda_client.publish_version(FunctionName=FN)["Version"]
    lambda_client.create_alias(FunctionName=FN, Name="live", FunctionVersion=version)
    lambda_client.put_function_concurrency(FunctionName=THROTTLED, ReservedConcurrentExecutions=0)
    before = dt.datetime.now(dt.UTC)
    for _ in range(3):
        assert "FunctionError" not in lambda_client.invoke(FunctionName=FN, Payload=b"{}")
    assert lambda_client.invoke(FunctionName=FN, Payload=b'{"fail": true}')["FunctionError"]
    lambda_client.invoke(FunctionName=FN, Qualifier="live", Payload=b"{}")
    with pytest.raises(lambda_client.exceptions.TooManyRequestsException):
        lambda_client.invoke(FunctionName=THROTTLED, Payload=b"{}")
    yield {"start": before - dt.timedelta(minutes=2), "end": dt.datetime.now(dt.UTC)
           + dt.timedelta(minutes=2), "version": version}
    for name in (FN, THROTTLED):
        lambda_client.delete_function(FunctionName=name)


def _fn(name: str, **more: str) -> list[dict[str, str]]:
    return [{"Name": "FunctionName", "Value": name}] + [{"Name": k, "Value": v} for k, v in more.items()]


def _total(cw, invoked, metric: str, dims, stat: str = "Sum") -> float:  # type: ignore[no-untyped-def]
    points = cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName=metric, Dimensions=dims,
                                      StartTime=invoked["start"], EndTime=invoked["end"],
                                      Period=3600, Statistics=[stat])["Datapoints"]
    assert len(points) <= 1
    return points[0][stat] if points else 0.0


def test_get_metric_statistics(server, invoked) -> None:  # type: ignore[no-untyped-def]
    cw = server.client("cloudwatch")
    assert _total(cw, invoked, "Invocations", _fn(FN)) == 5
    assert _total(cw, invoked, "Errors", _fn(FN)) == 1
    assert _total(cw, invoked, "Errors", _fn(FN), "SampleCount") == 5
    assert _total(cw, invoked, "Invocations", _fn(FN, Resource=f"{FN}:live")) == 1
    assert _total(cw, invoked, "Invocations", _fn(FN, Resource=f"{FN}:live",
                                                  ExecutedVersion=invoked["version"])) == 1
    assert _total(cw, invoked, "Throttles", _fn(THROTTLED)) == 1
    assert _total(cw, invoked, "Invocations", _fn(THROTTLED)) == 0
    assert _total(cw, invoked, "Throttles", []) >= 1                 # the region aggregate
    assert _total(cw, invoked, "ConcurrentExecutions", _fn(FN), "Maximum") == 1
    duration = cw.get_metric_statistics(
        Namespace="AWS/Lambda", MetricName="Duration", Dimensions=_fn(FN),
        StartTime=invoked["start"], EndTime=invoked["end"], Period=3600,
        Statistics=["SampleCount", "Maximum", "Minimum"], ExtendedStatistics=["p50"])
    [point] = duration["Datapoints"]
    assert point["SampleCount"] == 5 and point["Unit"] == "Milliseconds"
    assert 0 < point["Minimum"] <= point["ExtendedStatistics"]["p50"] <= point["Maximum"] < 5000
    with pytest.raises(cw.exceptions.InvalidParameterCombinationException):
        cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName="Errors", Period=60,
                                 StartTime=invoked["start"], EndTime=invoked["end"])


def test_get_metric_data_and_list_metrics(server, invoked) -> None:  # type: ignore[no-untyped-def]
    cw = server.client("cloudwatch")

    def query(qid: str, metric: str, name: str, stat: str = "Sum") -> dict:
        return {"Id": qid, "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": metric,
                                                      "Dimensions": _fn(name)},
                                           "Period": 60, "Stat": stat}}
    answer = cw.get_metric_data(
        MetricDataQueries=[query("inv", "Invocations", FN), query("err", "Errors", FN),
                           query("thr", "Throttles", THROTTLED), query("dur", "Duration", FN, "p99")],
        StartTime=invoked["start"], EndTime=invoked["end"], ScanBy="TimestampAscending")
    results = {r["Id"]: r for r in answer["MetricDataResults"]}
    assert sum(results["inv"]["Values"]) == 5 and sum(results["err"]["Values"]) == 1
    assert sum(results["thr"]["Values"]) == 1
    assert results["inv"]["StatusCode"] == "Complete" and results["inv"]["Label"] == "Invocations"
    assert all(v > 0 for v in results["dur"]["Values"])
    stamps = results["inv"]["Timestamps"]
    assert stamps == sorted(stamps) and all(t.second == 0 for t in stamps)
    listed = cw.list_metrics(Namespace="AWS/Lambda", MetricName="Invocations",
                             Dimensions=[{"Name": "FunctionName", "Value": FN}])["Metrics"]
    sets = {tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in listed}
    assert (("FunctionName", FN),) in sets
    assert (("FunctionName", FN), ("Resource", f"{FN}:live")) in sets
    assert (("ExecutedVersion", invoked["version"]), ("FunctionName", FN),
            ("Resource", f"{FN}:live")) in sets
    assert cw.list_metrics(Namespace="AWS/EC2")["Metrics"] == []


def test_json_protocol(server, invoked) -> None:  # type: ignore[no-untyped-def]
    """SDKs that pick AWS JSON 1.0 (X-Amz-Target) get the same answers."""
    body = json.dumps({"Namespace": "AWS/Lambda", "MetricName": "Invocations", "Period": 3600,
                       "Dimensions": _fn(FN), "Statistics": ["Sum"],
                       "StartTime": invoked["start"].timestamp(),
                       "EndTime": invoked["end"].timestamp()})
    request = AWSRequest("POST", server.endpoint + "/", data=body, headers={
        "X-Amz-Target": "GraniteServiceVersion20100801.GetMetricStatistics",
        "Content-Type": "application/x-amz-json-1.0"})
    SigV4Auth(Credentials("test", "test"), "monitoring", "us-east-1").add_auth(request)
    with urllib.request.urlopen(urllib.request.Request(
            request.url, data=body.encode(), headers=dict(request.headers), method="POST")) as r:
        answer = json.loads(r.read())
    assert [p["Sum"] for p in answer["Datapoints"]] == [5.0]


def test_prometheus_text(server, invoked) -> None:  # type: ignore[no-untyped-def]
    with urllib.request.urlopen(server.endpoint + "/_lamina/metrics") as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    assert f'lamina_invocations_total{{function_name="{FN}",resource="{FN}"}} 4' in text
    assert f'lamina_errors_total{{function_name="{FN}",resource="{FN}"}} 1' in text
    assert (f'lamina_invocations_total{{function_name="{FN}",resource="{FN}:live",'
            f'executed_version="{invoked["version"]}"}} 1') in text
    assert f'lamina_throttles_total{{function_name="{THROTTLED}",resource="{THROTTLED}"}} 1' in text
    assert f'lamina_duration_milliseconds_count{{function_name="{FN}",resource="{FN}"}} 4' in text

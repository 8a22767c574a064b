"""A minimal CloudWatch API for namespace `AWS/Lambda`: GetMetricStatistics, GetMetricData,
ListMetrics, read from `lamina.observe.metrics`.

Two wire protocols, both on Lamina's one endpoint:

- Smithy RPC v2 CBOR (what botocore ≥ 1.40 speaks first): `POST
  /service/GraniteServiceVersion20100801/operation/<Op>`, header
  `smithy-protocol: rpc-v2-cbor`, CBOR bodies, timestamps as tag 1.
- AWS JSON 1.0 (`X-Amz-Target: GraniteServiceVersion20100801.<Op>`), which older
  SDKs and tools pick; timestamps are epoch seconds.

Both are `awsQueryCompatible`: an error carries `__type` in the body and the
Query error code in `x-amzn-query-error`, so `client.exceptions.
InvalidParameterValueException` matches. The Query (form/XML) protocol is not served.
Requests are SigV4-verified like every Lamina API call.
"""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from lamina.api import cbor, sigv4
from lamina.errors import LaminaError
from lamina.observe.metrics import METRICS, NAMESPACE, Metrics
from lamina.observe.stat import Stat

SERVICE = "GraniteServiceVersion20100801"
CBOR_PREFIX = f"/service/{SERVICE}/operation/"
JSON_PREFIX = f"{SERVICE}."
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
PAGE = 500


class CloudWatchError(LaminaError):
    status = 400
    message_field = "message"
    has_type = False
    query_code = "InvalidParameterValue"

    def body(self) -> dict[str, Any]:
        return {"__type": f"com.amazonaws.cloudwatch#{self.code}", **super().body()}


class InvalidParameterValue(CloudWatchError):
    code = "InvalidParameterValueException"
    query_code = "InvalidParameterValue"


class InvalidParameterCombination(CloudWatchError):
    code = "InvalidParameterCombinationException"
    query_code = "InvalidParameterCombination"


class MissingParameter(CloudWatchError):
    code = "MissingRequiredParameterException"
    query_code = "MissingParameter"


class InvalidNextToken(CloudWatchError):
    code = "InvalidNextToken"
    query_code = "InvalidNextToken"


class UnknownOperation(CloudWatchError):
    code = "UnknownOperationException"
    query_code = "UnknownOperation"


def handles(raw_path: str, target: str) -> bool:
    return raw_path.startswith(CBOR_PREFIX) or target.startswith(JSON_PREFIX)


def respond(metrics: Metrics, credentials: dict[str, str], request: web.Request, raw_path: str,
            target: str, headers: dict[str, str], body: bytes, request_id: str) -> web.Response:
    """Verify, decode, run and encode one CloudWatch call; errors are encoded the same way."""
    use_cbor = raw_path.startswith(CBOR_PREFIX)
    out_headers = {"x-amzn-RequestId": request_id}
    if use_cbor:
        out_headers["smithy-protocol"] = "rpc-v2-cbor"
    try:
        sigv4.verify(request.method, raw_path, request.query_string, headers, body, credentials)
        op = raw_path[len(CBOR_PREFIX):] if use_cbor else target[len(JSON_PREFIX):]
        try:
            params = (cbor.decode(body) if use_cbor else json.loads(body)) if body else {}
        except ValueError as exc:
            raise InvalidParameterValue(f"Could not parse the request body: {exc}") from None
        if not isinstance(params, dict):
            raise InvalidParameterValue("The request body must be a structure")
        handler = OPERATIONS.get(op)
        if handler is None:
            raise UnknownOperation(f"Operation {op} is not supported by Lamina")
        result, status = handler(metrics, params), 200
    except LaminaError as err:
        result, status = err.body(), err.status
        if not isinstance(err, CloudWatchError):   # SigV4 and friends
            result["__type"] = err.code
        out_headers["x-amzn-query-error"] = (
            f"{getattr(err, 'query_code', err.code)};{'Sender' if status < 500 else 'Receiver'}")
    if use_cbor:
        return web.Response(status=status, body=cbor.encode(result), headers=out_headers,
                            content_type="application/cbor")
    return web.Response(status=status, body=json.dumps(result).encode(), headers=out_headers,
                        content_type="application/x-amz-json-1.0")


# -- operations ------------------------------------------------------------------------------

def _required(params: dict[str, Any], name: str) -> Any:
    if params.get(name) is None:
        raise MissingParameter(f"The parameter {name} is required.")
    return params[name]


def _time(params: dict[str, Any], name: str) -> float:
    value = _required(params, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParameterValue(f"The parameter {name} must be a timestamp.")
    return float(value)


def _period(value: Any) -> int:
    """Lambda's metrics have 1-minute resolution: periods are whole minutes (rounded up)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidParameterValue("The parameter Period must be a positive integer.")
    return max(60, math.ceil(value / 60) * 60)


def _dimensions(items: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        if not isinstance(item, dict) or "Name" not in item or "Value" not in item:
            raise InvalidParameterValue("A dimension needs a Name and a Value.")
        out[str(item["Name"])] = str(item["Value"])
    return out


def _series(metrics: Metrics, namespace: Any, metric: Any, dimensions: dict[str, str],
            unit: Any, start: float, end: float, period: int) -> list[tuple[int, Stat]]:
    if namespace != NAMESPACE or metric not in METRICS:
        return []
    if unit is not None and unit != METRICS[metric][0]:
        return []    # CloudWatch keeps units apart: a mismatched unit has no data
    if end <= start:
        raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
    return metrics.query(metric, dimensions, start, end, period)


def get_metric_statistics(metrics: Metrics, params: dict[str, Any]) -> dict[str, Any]:
    name = _required(params, "MetricName")
    stats = list(params.get("Statistics") or [])
    extended = list(params.get("ExtendedStatistics") or [])
    if not stats and not extended:
        raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics.")
    for s in stats:
        if s not in STATISTICS:
            raise InvalidParameterValue(f"The parameter Statistics contains an invalid value: {s}")
    for s in extended:
        if not _is_percentile(s):
            raise InvalidParameterValue(f"The parameter ExtendedStatistics contains {s!r}; "
                                        "Lamina computes percentiles (pNN.NN) only.")
    found = _series(metrics, _required(params, "Namespace"), name,
                    _dimensions(params.get("Dimensions")), params.get("Unit"),
                    _time(params, "StartTime"), _time(params, "EndTime"),
                    _period(_required(params, "Period")))
    unit = METRICS.get(name, ("None",))[0]
    points = []
    for at, stat in found:
        point: dict[str, Any] = {"Timestamp": cbor.Timestamp(at), "Unit": unit}
        for s in stats:
            point[s] = stat.statistic(s)
        if extended:
            point["ExtendedStatistics"] = {s: v for s in extended
                                           if (v := stat.statistic(s)) is not None}
        points.append(point)
    return {"Label": name, "Datapoints": points}


def _is_percentile(name: str) -> bool:
    try:
        return name[:1] == "p" and 0 <= float(name[1:]) <= 100
    except ValueError:
        return False


def get_metric_data(metrics: Metrics, params: dict[str, Any]) -> dict[str, Any]:
    queries = _required(params, "MetricDataQueries")
    start, end = _time(params, "StartTime"), _time(params, "EndTime")
    descending = params.get("ScanBy", "TimestampDescending") != "TimestampAscending"
    if not isinstance(queries, list) or not queries:
        raise InvalidParameterValue("The parameter MetricDataQueries must not be empty.")
    results = []
    for q in queries:
        if not isinstance(q, dict) or "Id" not in q:
            raise MissingParameter("Every metric data query needs an Id.")
        if q.get("Expression") is not None:
            raise InvalidParameterValue(
                f"Query {q['Id']}: metric math expressions are not supported by Lamina; "
                "use MetricStat queries.")
        stat_spec = q.get("MetricStat")
        if not isinstance(stat_spec, dict):
            raise MissingParameter(f"Query {q['Id']} needs a MetricStat or an Expression.")
        metric = stat_spec.get("Metric") or {}
        statistic = str(_required(stat_spec, "Stat"))
        if statistic not in STATISTICS and not _is_percentile(statistic):
            raise InvalidParameterValue(f"Query {q['Id']}: unsupported statistic {statistic}")
        found = _series(metrics, metric.get("Namespace"), metric.get("MetricName"),
                        _dimensions(metric.get("Dimensions")), stat_spec.get("Unit"),
                        start, end, _period(_required(stat_spec, "Period")))
        pairs = [(at, v) for at, stat in found if (v := stat.statistic(statistic)) is not None]
        if descending:
            pairs.reverse()
        if q.get("ReturnData", True) is False:
            continue
        results.append({"Id": q["Id"], "Label": q.get("Label") or metric.get("MetricName", ""),
                        "Timestamps": [cbor.Timestamp(at) for at, _ in pairs],
                        "Values": [float(v) for _, v in pairs], "StatusCode": "Complete",
                        "Messages": []})
    return {"MetricDataResults": results, "Messages": []}


def list_metrics(metrics: Metrics, params: dict[str, Any]) -> dict[str, Any]:
    namespace = params.get("Namespace")
    if namespace not in (None, NAMESPACE):
        return {"Metrics": []}
    name = params.get("MetricName")
    filters = [(f.get("Name"), f.get("Value")) for f in params.get("Dimensions") or []
               if isinstance(f, dict)]
    listed = []
    for metric, dims in sorted(metrics.names()):
        if name is not None and metric != name:
            continue
        have = dict(dims)
        if any(k not in have or (v is not None and have[k] != v) for k, v in filters):
            continue
        listed.append({"Namespace": NAMESPACE, "MetricName": metric,
                       "Dimensions": [{"Name": k, "Value": v} for k, v in dims]})
    token = params.get("NextToken")
    try:
        offset = int(token) if token else 0
    except ValueError:
        raise InvalidNextToken("The NextToken is not valid.") from None
    page: dict[str, Any] = {"Metrics": listed[offset:offset + PAGE]}
    if offset + PAGE < len(listed):
        page["NextToken"] = str(offset + PAGE)
    return page


OPERATIONS = {
    "GetMetricStatistics": get_metric_statistics,
    "GetMetricData": get_metric_data,
    "ListMetrics": list_metrics,
}

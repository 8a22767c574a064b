"""The metrics registry: minute buckets, statistics, dimensions, gauges; the CBOR wire format."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import botocore.session
import pytest
from botocore.parsers import RpcV2CBORParser
from botocore.serialize import RpcV2CBORSerializer

from lamina.api import cbor, cloudwatch
from lamina.errors import TooManyRequestsException
from lamina.invoke.admission import Admission, Limits
from lamina.observe.metrics import Metrics
from lamina.observe.prometheus import prometheus
from lamina.observe.stat import Stat

T0 = 1_800_000_000 // 60 * 60          # a minute boundary


@dataclass
class Ticket:
    function: str
    qualifier: str | None = None
    version: str | None = "$LATEST"
    started: float = T0
    key: str = "k"
    provisioned: bool = False
    unreserved: bool = True


@dataclass
class Result:
    duration_ms: float
    function_error: str | None = None


class Clock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


def values(m: Metrics, metric: str, dims: dict[str, str], stat: str, period: int = 60,
           start: float = T0 - 600, end: float = T0 + 3600) -> list[tuple[int, float | None]]:
    return [(at, s.statistic(stat)) for at, s in m.query(metric, dims, start, end, period)]


def test_data_points_are_stamped_with_the_invocation_start_minute() -> None:
    m = Metrics()
    m.invoked(Ticket("f", started=T0 + 59.9), Result(1.0))
    m.invoked(Ticket("f", started=T0 + 60.0), Result(2.0))
    m.invoked(Ticket("f", started=T0 + 130), Result(3.0))
    fn = {"FunctionName": "f"}
    assert values(m, "Invocations", fn, "Sum") == [(T0, 1.0), (T0 + 60, 1.0), (T0 + 120, 1.0)]
    # Periods are aligned on the (minute-rounded) start time and merge their minutes.
    assert values(m, "Invocations", fn, "Sum", period=120, start=T0 + 5) == [(T0, 2.0), (T0 + 120, 1.0)]
    assert values(m, "Duration", fn, "Maximum", period=300) == [(T0 - 600 + 600, 3.0)]
    # [start, end): a minute at `end` is outside.
    assert values(m, "Invocations", fn, "Sum", end=T0 + 60) == [(T0, 1.0)]


def test_statistics_and_percentiles() -> None:
    m = Metrics()
    for ms in range(1, 101):
        m.invoked(Ticket("f"), Result(float(ms), "Unhandled" if ms % 4 == 0 else None))
    [(_, stat)] = m.query("Duration", {}, T0, T0 + 60, 60)
    assert (stat.count, stat.total, stat.low, stat.high) == (100, 5050.0, 1.0, 100.0)
    assert stat.statistic("Average") == 50.5
    assert stat.statistic("p50") == 50.0 and stat.statistic("p99") == 99.0   # exact while pending
    stat.settle()                                    # binned: within the bins' 2% error
    assert stat.statistic("p50") == pytest.approx(50, rel=0.03)
    assert stat.statistic("p90") == pytest.approx(90, rel=0.03)
    assert stat.statistic("p100") == 100.0 and stat.statistic("p0.1") == 1.0
    assert stat.statistic("tm99") is None
    [(_, errors)] = m.query("Errors", {}, T0, T0 + 60, 60)
    assert (errors.statistic("Sum"), errors.statistic("SampleCount"), errors.statistic("Average")) \
        == (25.0, 100.0, 0.25)


def test_binned_and_pending_samples_merge() -> None:
    a, b = Stat(True), Stat(True)
    for v in range(1, 5001):
        a.add(float(v))          # more than a batch: binned as it goes
    b.add(0.0)
    acc = Stat()
    acc.merge(a)
    acc.merge(b)
    assert acc.count == 5001 and acc.low == 0.0
    assert acc.percentile(50) == pytest.approx(2500, rel=0.03)
    assert acc.percentile(0.001) == 0.0


def test_dimensions_follow_lambda_sets() -> None:
    m = Metrics()
    m.invoked(Ticket("f", "live", "3"), Result(10))
    m.invoked(Ticket("f", "live", "4"), Result(20))
    m.invoked(Ticket("f", "4", "4"), Result(30))
    m.invoked(Ticket("f", None, "$LATEST"), Result(40))
    m.invoked(Ticket("g"), Result(50))
    s = lambda dims: [v for _, v in values(m, "Invocations", dims, "Sum")]  # noqa: E731
    assert s({}) == [5.0]
    assert s({"FunctionName": "f"}) == [4.0]
    assert s({"FunctionName": "f", "Resource": "f:live"}) == [2.0]
    assert s({"FunctionName": "f", "Resource": "f"}) == [1.0]          # unqualified
    assert s({"FunctionName": "f", "Resource": "f:4"}) == [1.0]
    assert s({"FunctionName": "f", "Resource": "f:live", "ExecutedVersion": "3"}) == [1.0]
    assert s({"Resource": "f:live"}) == []          # not a set Lambda publishes
    assert s({"FunctionName": "f", "ExecutedVersion": "3"}) == []
    names = {(metric, dims) for metric, dims in m.names() if metric == "Invocations"}
    executed = {dims for _, dims in names if any(k == "ExecutedVersion" for k, _ in dims)}
    assert executed == {(("FunctionName", "f"), ("Resource", "f:live"), ("ExecutedVersion", "3")),
                        (("FunctionName", "f"), ("Resource", "f:live"), ("ExecutedVersion", "4"))}
    assert ("Invocations", ()) in m.names()


def test_concurrency_gauges_and_throttles_from_admission() -> None:
    clock = Clock()
    m = Metrics(clock=clock)
    adm = Admission(10, limits=lambda: Limits(reserved={"r": 0, "g": 2}))
    adm.metrics = m
    tickets = [adm.admit("f", "$LATEST", None, "kf") for _ in range(3)]
    tickets.append(adm.admit("f", "1", "live", "kf1"))
    tickets.append(adm.admit("g", "$LATEST", None, "kg"))
    with pytest.raises(TooManyRequestsException):
        adm.admit("r", "$LATEST", None, "kr")
    start = T0 - 60

    def peak(metric: str, dims: dict[str, str]) -> float | None:
        got = m.query(metric, dims, start, start + 3 * 60, 60)
        return got[-1][1].statistic("Maximum") if got else None

    now_minute = int(tickets[0].started // 60) * 60
    start = now_minute - 60
    assert peak("ConcurrentExecutions", {}) == 5
    assert peak("ConcurrentExecutions", {"FunctionName": "f"}) == 4
    assert peak("ConcurrentExecutions", {"FunctionName": "f", "Resource": "f:live"}) == 1
    assert peak("ConcurrentExecutions", {"FunctionName": "f", "Resource": "f"}) == 3
    assert peak("UnreservedConcurrentExecutions", {}) == 4      # g has a reservation
    throttles = m.query("Throttles", {"FunctionName": "r", "Resource": "r"}, 0, 1e12, 60)
    assert [s.statistic("Sum") for _, s in throttles] == [1.0]
    for t in tickets[1:]:
        t.release()
    # One invocation is still running when the next minute begins: it is carried over.
    m.carry(now_minute // 60 + 1)
    start = now_minute
    assert peak("ConcurrentExecutions", {"FunctionName": "f"}) == 1
    claimed = m.query("ClaimedAccountConcurrency", {}, now_minute, now_minute + 60, 60)
    assert claimed[0][1].statistic("Maximum") == 4 + 2      # peak unreserved + reserved (0 + 2)


def test_async_and_event_source_records_and_prometheus() -> None:
    clock = Clock()
    m = Metrics(clock=clock)
    m.record("AsyncEventsReceived", "f")
    m.record("AsyncEventAge", "f", 120.0)
    m.record("IteratorAge", "s", 5000.0)
    m.invoked(Ticket("f", "live", "2"), Result(3.0, "Unhandled"))
    assert values(m, "AsyncEventAge", {"FunctionName": "f"}, "Maximum") == [(T0, 120.0)]
    assert values(m, "AsyncEventsReceived", {}, "Sum") == [(T0, 1.0)]
    assert values(m, "IteratorAge", {"FunctionName": "s", "Resource": "s"}, "Maximum") == []
    text = prometheus(m)
    assert 'lamina_async_events_received_total{function_name="f"} 1' in text
    assert ('lamina_errors_total{function_name="f",resource="f:live",executed_version="2"} 1'
            in text)
    assert 'lamina_duration_milliseconds_count{function_name="f",resource="f:live",' in text
    assert "# TYPE lamina_iterator_age_milliseconds summary" in text
    assert "lamina_concurrent_executions 0" in text


def test_folding_keeps_lifetime_totals_and_retention_drops_minutes() -> None:
    clock = Clock()
    m = Metrics(retention_min=10, clock=clock)
    for i in range(20):
        m.invoked(Ticket("f", started=T0 + 60 * i), Result(1.0))
    m.fold(T0 // 60 + 15)
    m.invoked(Ticket("f", started=T0 + 60), Result(1.0))      # late, into a folded minute
    m.prune(T0 // 60 + 20)
    assert len(values(m, "Invocations", {}, "Sum", end=T0 + 7200)) == 10
    totals = m.totals()
    assert totals[("Invocations", "f", "f", None)].total == 21
    assert 'lamina_invocations_total{function_name="f",resource="f"} 21' in prometheus(m)


def test_snapshot_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    m = Metrics(tmp_path / "metrics.json", clock=clock)
    for ms in (5.0, 7.0, 900.0):
        m.invoked(Ticket("f", "live", "1"), Result(ms))
    m.fold(T0 // 60)
    m.record("Throttles", "f")
    again = Metrics(clock=clock)
    again.restore(m.snapshot())
    for metric, stat in (("Duration", "p50"), ("Invocations", "Sum"), ("Throttles", "Sum")):
        assert values(again, metric, {"FunctionName": "f"}, stat) == \
            values(m, metric, {"FunctionName": "f"}, stat)
    assert again.totals().keys() == m.totals().keys()


# -- the CloudWatch wire format ---------------------------------------------------------------

def _model():  # type: ignore[no-untyped-def]
    return botocore.session.get_session().get_service_model("cloudwatch")


def test_cbor_decodes_what_botocore_sends_and_botocore_parses_our_answer() -> None:
    model = _model()
    op = model.operation_model("GetMetricStatistics")
    start = dt.datetime.fromtimestamp(T0 - 600, dt.UTC)
    request = RpcV2CBORSerializer().serialize_to_request({
        "Namespace": "AWS/Lambda", "MetricName": "Duration", "StartTime": start,
        "EndTime": dt.datetime.fromtimestamp(T0 + 600, dt.UTC), "Period": 60,
        "Statistics": ["Maximum", "SampleCount"], "ExtendedStatistics": ["p99"],
        "Dimensions": [{"Name": "FunctionName", "Value": "f"}]}, op)
    assert request["url_path"] == "/service/GraniteServiceVersion20100801/operation/GetMetricStatistics"
    assert request["headers"]["smithy-protocol"] == "rpc-v2-cbor"
    params = cbor.decode(request["body"])
    assert params["StartTime"] == T0 - 600 and isinstance(params["StartTime"], cbor.Timestamp)
    m = Metrics()
    m.invoked(Ticket("f"), Result(8.5))
    body = cbor.encode(cloudwatch.get_metric_statistics(m, params))
    parsed = RpcV2CBORParser().parse(
        {"status_code": 200, "headers": {}, "body": body}, op.output_shape)
    [point] = parsed["Datapoints"]
    assert point["Maximum"] == 8.5 and point["SampleCount"] == 1.0
    assert point["ExtendedStatistics"] == {"p99": 8.5} and point["Unit"] == "Milliseconds"
    assert point["Timestamp"].timestamp() == T0


def test_cbor_codec_covers_the_types_sdks_use() -> None:
    doc = {"a": [1, -1, 23, 24, 255, 65536, 1 << 40, -(1 << 40)], "b": b"\x00\xff", "c": None,
           "d": True, "e": False, "f": 1.5, "g": "é" * 30, "h": {"nested": []}}
    assert cbor.decode(cbor.encode(doc)) == doc
    # Indefinite lengths, half floats and tag 1 with an integer, hand-assembled.
    raw = bytes([0xBF, 0x61, 0x78, 0x9F, 0x01, 0xF9, 0x3C, 0x00, 0xFF,
                 0x61, 0x74, 0xC1, 0x1A, 0x00, 0x00, 0x00, 0x10,
                 0x61, 0x73, 0x7F, 0x61, 0x61, 0x61, 0x62, 0xFF, 0xFF])
    assert cbor.decode(raw) == {"x": [1, 1.0], "t": 16.0, "s": "ab"}
    for bad in (b"\x18", b"\xa1\x61", b"\xc2\x00", b"\x01\x02"):
        with pytest.raises(cbor.CborError):
            cbor.decode(bad)

"""Prometheus text exposition (format 0.0.4) of the metrics registry, for `/_lamina/metrics`.

Served unauthenticated, like most scrape targets: it shows function names and
counts, nothing else. Bind Lamina to a private address if that is too much.
"""

from __future__ import annotations

from lamina.observe.metrics import METRICS, Key, Metrics
from lamina.observe.stat import Stat


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _labels(pairs: list[tuple[str, str | None]]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs if v is not None)
    return "{" + inner + "}" if inner else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prometheus(metrics: Metrics) -> str:
    """Prometheus text format 0.0.4: lifetime counters and summaries, current gauges.

    `Invocations` → `lamina_invocations_total`, `Duration` → `lamina_duration_milliseconds`
    (`_sum`/`_count`), concurrency → `lamina_concurrent_executions` (now, not per minute).
    Labels: function_name, resource, executed_version, at the finest level recorded."""
    lines: list[str] = []
    by_metric: dict[str, list[tuple[Key, Stat]]] = {}
    for key, stat in metrics.totals().items():
        by_metric.setdefault(key[0], []).append((key, stat))
    for metric, (unit, kind) in METRICS.items():
        if kind == "gauge" or metric not in by_metric:
            continue
        series = sorted(by_metric[metric], key=lambda ks: tuple(v or "" for v in ks[0]))
        if kind == "sum":
            name = f"lamina_{_snake(metric)}_total"
            lines += [f"# HELP {name} AWS/Lambda {metric} (Sum) since the data dir was created.",
                      f"# TYPE {name} counter"]
            lines += [f"{name}{_series_labels(k)} {_num(s.total)}" for k, s in series]
        else:
            name = f"lamina_{_snake(metric)}_milliseconds"
            lines += [f"# HELP {name} AWS/Lambda {metric} in {unit}.", f"# TYPE {name} summary"]
            for k, s in series:
                lines.append(f"{name}_sum{_series_labels(k)} {_num(s.total)}")
                lines.append(f"{name}_count{_series_labels(k)} {s.count}")
    adm = metrics.admission
    gauges: list[tuple[str, str, list[tuple[str, float]]]] = [
        ("ConcurrentExecutions", "", [("", float(adm.total if adm else 0))]),
        ("ConcurrentExecutions", "function_name",
         [(f, float(n)) for f, n in sorted(adm.running.items()) if n] if adm else []),
        ("UnreservedConcurrentExecutions", "",
         [("", float(adm.unreserved_running if adm else 0))]),
    ]
    seen: set[str] = set()
    for metric, label, values in gauges:
        name = f"lamina_{_snake(metric)}"
        if name not in seen:
            seen.add(name)
            lines += [f"# HELP {name} AWS/Lambda {metric}: busy environments now.",
                      f"# TYPE {name} gauge"]
        for value_label, value in values:
            labels = _labels([(label, value_label)]) if label else ""
            lines.append(f"{name}{labels} {_num(value)}")
    return "\n".join(lines) + "\n"


def _series_labels(key: Key) -> str:
    return _labels([("function_name", key[1]), ("resource", key[2]), ("executed_version", key[3])])


def _num(value: float) -> str:
    return repr(int(value)) if value == int(value) else repr(value)

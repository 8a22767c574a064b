"""Traffic-shifting schedules: CodeDeploy's predefined Lambda configs and the two custom kinds.

A `ShiftConfig` is data (kind, percentage, interval); `schedule()` turns it into the
exact list of `(seconds after the start, weight of the new version)` steps a deployer
applies. Every schedule ends with weight 1.0, the step that repoints the alias.

CodeDeploy semantics (lambda-spec §9):

- AllAtOnce: `[(0, 1.0)]`.
- TimeBasedCanary{p, m}: p% at once, the remaining traffic m minutes later.
- TimeBasedLinear{p, m}: p% at the start of each m-minute increment, so
  Linear10PercentEvery1Minute is ten steps, 10% at 0 s … 100% at 540 s. A percentage
  that does not divide 100 ends with a smaller last increment (30% → 30, 60, 90, 100).

Percentages and minutes are integers, as in CodeDeploy's `TrafficRoutingConfig`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ALL_AT_ONCE = "AllAtOnce"
CANARY = "TimeBasedCanary"
LINEAR = "TimeBasedLinear"
PREFIX = "CodeDeployDefault."


@dataclass(frozen=True)
class ShiftConfig:
    """One shifting schedule. `percentage` and `interval_min` are unused for AllAtOnce."""

    kind: str
    percentage: int = 100
    interval_min: int = 0

    def __post_init__(self) -> None:
        if self.kind not in (ALL_AT_ONCE, CANARY, LINEAR):
            raise ValueError(f"unknown traffic shifting type {self.kind!r}")
        if self.kind != ALL_AT_ONCE:
            if not 1 <= self.percentage <= 99:
                raise ValueError(f"percentage must be 1-99, got {self.percentage}")
            if self.interval_min < 1:
                raise ValueError(f"interval must be at least 1 minute, got {self.interval_min}")


def _predefined() -> dict[str, ShiftConfig]:
    out = {f"{PREFIX}LambdaAllAtOnce": ShiftConfig(ALL_AT_ONCE)}
    for minutes in (5, 10, 15, 30):
        out[f"{PREFIX}LambdaCanary10Percent{minutes}Minutes"] = ShiftConfig(CANARY, 10, minutes)
    for minutes in (1, 2, 3, 10):
        unit = "Minute" if minutes == 1 else "Minutes"
        out[f"{PREFIX}LambdaLinear10PercentEvery{minutes}{unit}"] = ShiftConfig(LINEAR, 10, minutes)
    return out


PREDEFINED: dict[str, ShiftConfig] = _predefined()

# SAM's DeploymentPreference.Type drops the `CodeDeployDefault.Lambda` prefix.
SAM_TYPES: dict[str, str] = {name[len(PREFIX) + len("Lambda"):]: name for name in PREDEFINED}

_CUSTOM = re.compile(r"^(\d+):(\d+)$")


def named(name: str) -> ShiftConfig:
    """A predefined config by its CodeDeploy name, with or without `CodeDeployDefault.`,
    or by its SAM `DeploymentPreference.Type` (`Canary10Percent5Minutes`)."""
    for candidate in (name, PREFIX + name, SAM_TYPES.get(name, "")):
        if candidate in PREDEFINED:
            return PREDEFINED[candidate]
    raise ValueError(f"unknown deployment config {name!r}; known: {', '.join(sorted(PREDEFINED))}")


def custom(kind: str, spec: str) -> ShiftConfig:
    """`PCT:MINUTES` as given to `--canary` / `--linear`."""
    match = _CUSTOM.match(spec.strip())
    if not match:
        raise ValueError(f"expected PERCENT:MINUTES, got {spec!r}")
    return ShiftConfig(kind, int(match.group(1)), int(match.group(2)))


def schedule(config: ShiftConfig) -> list[tuple[int, float]]:
    """The steps `(offset in seconds from the start, new version's weight)`, in order.

    Pure: the same config always gives the same list. Weights are exact multiples of
    1/100 (computed from integer percents, so 3 × 10% is 0.3, not 0.30000000000000004)."""
    if config.kind == ALL_AT_ONCE:
        return [(0, 1.0)]
    interval = config.interval_min * 60
    if config.kind == CANARY:
        return [(0, config.percentage / 100), (interval, 1.0)]
    steps: list[tuple[int, float]] = []
    percent, offset = 0, 0
    while percent < 100:
        percent = min(100, percent + config.percentage)
        steps.append((offset, percent / 100))
        offset += interval
    return steps

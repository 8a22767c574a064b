"""`Stat`: the statistics of one metric cell, as CloudWatch reports them.

Count, sum, minimum and maximum of every value, and for samples (durations,
ages) a log-spaced histogram for percentiles.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any

# Percentiles come from log-spaced bins 4% wide (≤2% error) from ~0.001 to ~1e8 (ms):
# bin i holds (_BOUNDS[i-1], _BOUNDS[i]]; found by bisection, which is C code and cheaper
# than a logarithm in Python. Bin 0 and the last bin catch everything beyond.
_RATIO = 1.04
_BOUNDS = [_RATIO ** (i - 180) for i in range(650)]
_BATCH = 2048          # pending samples per cell before they are binned on the spot


class Stat:
    """Count, sum, min, max (and, for samples, a histogram) of the values in one cell.

    Samples are appended to `pending` and binned later (`settle()`: by the minute tick,
    or here once `_BATCH` are waiting), which keeps `add` at a few attribute updates.
    Percentiles are exact while every sample is still pending, else from the bins."""

    __slots__ = ("count", "total", "low", "high", "bins", "pending")

    def __init__(self, binned: bool = False) -> None:
        self.count = 0
        self.total = 0.0
        self.low = math.inf
        self.high = -math.inf
        self.bins: dict[int, int] | None = {} if binned else None
        self.pending: list[float] | None = [] if binned else None

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        if value < self.low:
            self.low = value
        if value > self.high:
            self.high = value
        pending = self.pending
        if pending is not None:
            pending.append(value)
            if len(pending) >= _BATCH:
                self.settle()

    def settle(self) -> None:
        """Move pending samples into the log-spaced bins."""
        pending, bins = self.pending, self.bins
        if not pending or bins is None:
            return
        for value in pending:
            i = bisect_left(_BOUNDS, value)
            bins[i] = bins.get(i, 0) + 1
        pending.clear()

    def merge(self, other: Stat, bins: bool = True) -> None:
        self.count += other.count
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)
        if bins and other.bins is not None:
            if self.bins is None or self.pending is None:
                self.bins, self.pending = {}, []
            for i, n in other.bins.items():
                self.bins[i] = self.bins.get(i, 0) + n
            self.pending += other.pending or ()

    def percentile(self, p: float) -> float | None:
        """The value at or below which p% of the samples fall (bin midpoint, clamped)."""
        if not self.count or self.bins is None:
            return None
        rank, seen = max(1, math.ceil(p / 100.0 * self.count)), 0
        if rank <= 1 or rank >= self.count:     # the extremes are known exactly
            return self.low if rank <= 1 else self.high
        if not self.bins and self.pending:     # nothing binned yet: exact
            return sorted(self.pending)[min(rank, len(self.pending)) - 1]
        self.settle()
        for i in sorted(self.bins):
            seen += self.bins[i]
            if seen >= rank:
                if i == 0 or i >= len(_BOUNDS):
                    return self.low if i == 0 else self.high
                mid = math.sqrt(_BOUNDS[i - 1] * _BOUNDS[i])
                return min(self.high, max(self.low, mid))
        return self.high

    def statistic(self, name: str) -> float | None:
        """A CloudWatch statistic: Sum, Average, Minimum, Maximum, SampleCount or pNN."""
        if not self.count:
            return None
        if name == "Sum":
            return self.total
        if name == "Average":
            return self.total / self.count
        if name == "Minimum":
            return self.low
        if name == "Maximum":
            return self.high
        if name == "SampleCount":
            return float(self.count)
        if name[:1] == "p":
            try:
                p = float(name[1:])
            except ValueError:
                return None
            return self.percentile(p) if 0 <= p <= 100 else None
        return None

    def dump(self) -> list[Any]:
        self.settle()
        return [self.count, self.total, self.low, self.high,
                None if self.bins is None else list(self.bins.items())]

    @classmethod
    def load(cls, row: list[Any]) -> Stat:
        s = cls()
        s.count, s.total, s.low, s.high = int(row[0]), float(row[1]), float(row[2]), float(row[3])
        if row[4] is not None:
            s.bins, s.pending = {int(i): int(n) for i, n in row[4]}, []
        return s

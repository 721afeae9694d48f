"""Bucketed observations kept as plain state and rendered at scrape time as a Prometheus
histogram: bucket counts add up across workers (and over time with `rate`), where a last value
or a per-worker quantile cannot be aggregated.

prometheus_client's own `Histogram` would do the counting but belongs to a registry and a
metric name; the scheduler and the check runner only keep numbers, and the scrape-time
collectors (`web/metrics.py`, `checks/metrics.py`) name and label them.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    120.0, 300.0, 900.0, 3600.0)
"""Seconds, for job and check durations: from a 5 ms check to an hour-long baseline rebuild."""
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
               300.0)
"""Seconds between a run's due time and its start: milliseconds when healthy, minutes not."""


@dataclass
class Histogram:
    """Counts per bucket (`value <= bound`, then +Inf) and the sum of observed values."""

    bounds: tuple[float, ...]
    counts: list[int] = field(init=False)
    total: float = 0.0

    def __post_init__(self) -> None:
        if list(self.bounds) != sorted(set(self.bounds)):
            raise ValueError("histogram bounds must be unique and ascending")
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative `(le, count)` pairs ending with `+Inf`, as `HistogramMetricFamily`
        takes them."""
        counts, running, out = list(self.counts), 0, []
        for bound, n in zip((*self.bounds, math.inf), counts, strict=True):
            running += n
            out.append(("+Inf" if bound == math.inf else str(float(bound)), float(running)))
        return out

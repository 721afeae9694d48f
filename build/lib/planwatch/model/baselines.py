"""Robust summary of how a query normally performs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from planwatch.model.samples import QueryRef


@dataclass(frozen=True, slots=True)
class Baseline:
    """Call-weighted robust statistics of per-interval mean latency over the baseline window.

    `plan_hash` None means all plans together; `dominant_plan_hash` is the plan that carried
    most calls in the window.
    """

    ref: QueryRef
    plan_hash: str | None
    window_start: datetime
    window_end: datetime
    n: int  # number of intervals
    calls: int
    median_ms: float
    p95_ms: float
    mad_ms: float
    mean_ms: float
    stddev_ms: float  # call-weighted std of interval means, for a Welch test from summaries
    computed_at: datetime
    dominant_plan_hash: str | None = None
    rows_per_call: float = 0.0
    blks_per_call: float = 0.0  # shared blocks hit + read per call
    temp_blks_per_call: float = 0.0

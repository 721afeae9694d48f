"""What analysis reports: regressions, hotspots and collector-health findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from planwatch.model.samples import QueryRef


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class Cause(StrEnum):
    """The plan verdict of a regression, from evidence only (SPEC section 11).

    PLAN_CHANGE: a plan captured after the slowdown began differs from the baseline's plan.
    SAME_PLAN: a plan captured after the slowdown began matches the baseline's plan.
    PARAMETER_SENSITIVITY: the same plan, fast for some parameter values and slow for others.
    PLAN_UNKNOWN: no such evidence (yet); `details["plan_reason"]` says why.
    """

    PLAN_CHANGE = "plan_change"
    SAME_PLAN = "same_plan"
    PARAMETER_SENSITIVITY = "parameter_sensitivity"
    PLAN_UNKNOWN = "plan_unknown"


@dataclass(frozen=True, slots=True)
class Regression:
    """A query whose recent window is slower than its baseline, with effect, evidence, impact.

    `details` may also carry what the engine itself says about the query (SQL Server:
    `query_hash`, `forced_plan`, `tuning_recommendation` from sys.dm_db_tuning_recommendations).
    """

    ref: QueryRef
    severity: Severity
    cause: Cause
    baseline_ms: float
    current_ms: float
    ratio: float
    p_value: float
    impact_ms: float
    recent_calls: int
    baseline_calls: int
    old_plan_hash: str | None
    new_plan_hash: str | None
    plan_diff: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def plan_changed(self) -> bool | None:
        """True/False from evidence; None when the verdict is plan_unknown."""
        if self.cause is Cause.PLAN_UNKNOWN:
            return None
        return self.cause is Cause.PLAN_CHANGE


@dataclass(frozen=True, slots=True)
class Hotspot:
    """A query that takes a large share of the target's time, I/O or calls in the window."""

    ref: QueryRef
    metric: str  # "time" | "io" | "calls"
    share: float
    rank: int
    value: float


@dataclass(frozen=True, slots=True)
class HotspotShift:
    """A lasting change in where a target spends its database time: a query whose share of
    the window's time is several times what it was in the baseline period (or a query new to
    the target that already takes a large share)."""

    ref: QueryRef
    share: float
    baseline_share: float
    total_ms: float
    calls: int
    new_query: bool = False


@dataclass(frozen=True, slots=True)
class HealthFinding:
    """A collector-health problem: evictions, near-full statement table, resets, missed polls."""

    target: str
    component: str  # "evictions" | "capacity" | "reset" | "missed_polls"
    severity: Severity
    message: str

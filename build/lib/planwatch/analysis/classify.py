"""Why did a query get slower? Plan change, parameter sensitivity, or the same plan doing more.

Rules, first match wins:
- PLAN_CHANGE: the recent window's dominant plan hash (by calls) is known, the baseline's is
  known, and they differ. The old and new plans are diffed when `plans` can supply them.
- PARAMETER_SENSITIVITY: the recent intervals of the dominant plan spread widely (coefficient
  of variation of their means >= 0.5, or max/min >= 3, over at least two intervals) AND the
  baseline already spread widely (MAD / median >= 0.25): the same plan is fast for some
  parameter values and slow for others.
- SAME_PLAN otherwise: data growth, spills, contention. The details carry rows, blocks and
  temp blocks per call before and after; `spill_suspected` when temp blocks per call are > 0
  and at least doubled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from planwatch.analysis import baselines, plandiff
from planwatch.model.baselines import Baseline
from planwatch.model.findings import Cause
from planwatch.model.plans import PlanNode
from planwatch.model.samples import QueryRef, QuerySample

PlanLookup = Callable[[QueryRef, str], PlanNode | None]

SPREAD_CV = 0.5
SPREAD_MAX_MIN = 3.0
BASELINE_SPREAD = 0.25  # MAD / median


@dataclass(frozen=True, slots=True)
class Classification:
    cause: Cause
    old_plan_hash: str | None
    new_plan_hash: str | None
    plan_diff: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)


def classify(
    baseline: Baseline,
    recent: Sequence[QuerySample],
    *,
    plans: PlanLookup | None = None,
) -> Classification:
    """Cause of the slowdown of `recent` against `baseline`; suspect samples are ignored."""
    usable = baselines.usable(recent)
    window = baselines.summarize(usable)
    old, new = baseline.dominant_plan_hash, window.dominant_plan_hash if window else None
    details = _resource_details(baseline, window)
    details.update(old_plan_hash=old, new_plan_hash=new)
    if old is not None and new is not None and old != new:
        return Classification(Cause.PLAN_CHANGE, old, new, _plan_diff(baseline.ref, old, new,
                                                                      plans), details)
    spread = _spread([s.mean_ms for s in usable if new is None or s.plan_hash == new])
    baseline_spread = baseline.mad_ms / baseline.median_ms if baseline.median_ms > 0 else 0.0
    details.update(spread, baseline_mad_ratio=round(baseline_spread, 3))
    if _wide(spread) and baseline_spread >= BASELINE_SPREAD:
        return Classification(Cause.PARAMETER_SENSITIVITY, old, new, (), details)
    return Classification(Cause.SAME_PLAN, old, new, (), details)


def _plan_diff(
    ref: QueryRef, old: str, new: str, plans: PlanLookup | None
) -> tuple[str, ...]:
    if plans is None:
        return ()
    before, after = plans(ref, old), plans(ref, new)
    if before is None or after is None:
        return ()
    return plandiff.describe(plandiff.diff(before, after))


def _spread(means: list[float]) -> dict[str, float | None]:
    """Coefficient of variation and max/min of the recent interval means."""
    if len(means) < 2:
        return {"recent_cv": None, "recent_max_min": None}
    avg = sum(means) / len(means)
    std = math.sqrt(sum((m - avg) ** 2 for m in means) / len(means))
    low = min(means)
    return {
        "recent_cv": round(std / avg, 3) if avg > 0 else None,
        "recent_max_min": round(max(means) / low, 3) if low > 0 else None,
    }


def _wide(spread: dict[str, float | None]) -> bool:
    cv, ratio = spread["recent_cv"], spread["recent_max_min"]
    return (cv is not None and cv >= SPREAD_CV) or (ratio is not None and ratio >= SPREAD_MAX_MIN)


def _resource_details(baseline: Baseline, window: baselines.WindowStats | None) -> dict[str, Any]:
    after = window or baselines.WindowStats(0, 0, 0.0, 0.0, (), None, 0.0, 0.0, 0.0)
    temp_before, temp_after = baseline.temp_blks_per_call, after.temp_blks_per_call
    return {
        "rows_per_call": _before_after(baseline.rows_per_call, after.rows_per_call),
        "blks_per_call": _before_after(baseline.blks_per_call, after.blks_per_call),
        "temp_blks_per_call": _before_after(temp_before, temp_after),
        "spill_suspected": temp_after > 0 and temp_after >= 2 * temp_before,
    }


def _before_after(before: float, after: float) -> dict[str, float]:
    return {"before": round(before, 3), "after": round(after, 3)}

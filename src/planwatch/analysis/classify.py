"""Why did a query get slower? A plan verdict that rests on evidence (SPEC section 11).

The slowdown's onset is the first slow interval after the last two normal intervals in a row
(slow: the interval's own mean meets the effect rule against the baseline; one normal interval
inside a slowdown is noise); evidence is a plan
captured after the onset began and before the run ended — never the hash a sample merely
carries over from an earlier capture. Against the baseline's plan (`dominant_plan_hash`, or the
last plan captured before the onset when the baseline has none):
- PLAN_CHANGE: a plan captured during the slowdown differs; old and new plans are diffed, and
  indexes the old plan used that the new one does without are index candidates;
- SAME_PLAN: every plan captured during the slowdown matches. The details say what else
  changed: rows, blocks and temp blocks per call (spill, and the work_mem it ran with) and what
  the query waited on. PARAMETER_SENSITIVITY instead when the recent intervals spread widely
  (cv >= 0.5 or max/min >= 3) and the baseline already did (MAD/median >= 0.25);
- PLAN_UNKNOWN otherwise, with `plan_reason`: no capture since the onset (one is requested),
  the capture failed (its error), no plan known from before, or a generic plan that matches
  while blocks or rows per call moved by an order of magnitude (the executed plan likely
  differs from the generic one: PostgreSQL's custom plans for the parameter values).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from planwatch.analysis import advice, baselines, evidence, plandiff
from planwatch.model.baselines import Baseline
from planwatch.model.findings import Cause
from planwatch.model.plans import IndexCandidate, PlanNode, PlanSighting
from planwatch.model.policies import RegressionSettings
from planwatch.model.samples import QueryRef, QuerySample

PlanLookup = Callable[[QueryRef, str], PlanNode | None]

SPREAD_CV = 0.5
SPREAD_MAX_MIN = 3.0
BASELINE_SPREAD = 0.25  # MAD / median

NO_CAPTURE = "no_capture_since_onset"
CAPTURE_FAILED = "capture_failed"
NO_BASELINE_PLAN = "no_plan_before_onset"
EXECUTED_PLAN_DIFFERS = "executed_plan_likely_differs"
NOT_ONGOING = "slowdown_not_ongoing"


@dataclass(frozen=True, slots=True)
class PlanEvidence:
    """What storage knows about a query's plans: its captures, the last failed attempt, and
    when its slowdown began if an active alert already said so (a slowdown longer than the
    window starts before the window does)."""

    sightings: tuple[PlanSighting, ...] = ()
    capture_error: str | None = None
    slowdown_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Classification:
    cause: Cause
    old_plan_hash: str | None
    new_plan_hash: str | None
    plan_diff: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    onset: datetime | None = None
    needs_capture: bool = False  # no plan evidence since the onset: ask the collector
    candidates: tuple[IndexCandidate, ...] = ()  # indexes worth testing (hypopg)


CALM = 2  # consecutive normal intervals that end a slowdown (one may be noise)


def onset(
    baseline: Baseline, recent: Sequence[QuerySample], settings: RegressionSettings
) -> tuple[datetime, datetime | None] | None:
    """(start, end) of the last slowdown: its first slow interval after the last `CALM`
    normal intervals in a row (a single normal interval inside a slowdown is noise, not an
    end); end None while it goes on (its last interval is slow, or only one normal follows)."""
    ordered = sorted(baselines.usable(recent), key=lambda s: s.interval_start)
    slow = [_slow(baseline, s.mean_ms, settings) for s in ordered]
    if not any(slow):
        return None
    last = max(i for i, flag in enumerate(slow) if flag)
    first, calm = last, 0
    for i in range(last - 1, -1, -1):
        calm = 0 if slow[i] else calm + 1
        if calm >= CALM:
            break
        if slow[i]:
            first = i
    ongoing = len(ordered) - 1 - last < CALM
    return ordered[first].interval_start, None if ongoing else ordered[last].interval_end


def classify(
    baseline: Baseline,
    recent: Sequence[QuerySample],
    *,
    settings: RegressionSettings,
    plans: PlanLookup | None = None,
    known: PlanEvidence = PlanEvidence(),
) -> Classification:
    """Cause of the slowdown of `recent` against `baseline`; suspect samples are ignored."""
    usable = baselines.usable(recent)
    details = evidence.resources(baseline, usable)
    waited = evidence.waits(usable)
    if waited:
        details["waits"] = waited
    span = onset(baseline, usable, settings)
    if span is None:
        return _unknown(baseline, None, details, NOT_ONGOING,
                        "no interval of the window is slow on its own")
    start, end = span
    if known.slowdown_since is not None and known.slowdown_since < start:
        # Its alert is still active: the slowdown it reports began then (before the window,
        # or before calm intervals of sessions not yet affected), and captures since count.
        start = known.slowdown_since
    details["slowdown_since"] = start.isoformat()
    seen = _sightings(usable, known.sightings, start, end)
    old = baseline.dominant_plan_hash or _before(known.sightings, start)
    if not seen:
        if known.capture_error:
            return _unknown(baseline, start, details, CAPTURE_FAILED,
                            f"the plan capture failed: {known.capture_error}", ask=True)
        return _unknown(baseline, start, details, NO_CAPTURE,
                        f"no plan was captured since the slowdown began at {start:%H:%M:%S} "
                        "UTC; a capture is requested", ask=True)
    latest_hash, latest_context = seen[-1]
    details["plan_evidence"] = _described(latest_context, len(seen))
    if old is None:
        return _unknown(baseline, start, details, NO_BASELINE_PLAN,
                        "no plan of this query was captured before the slowdown",
                        new=latest_hash)
    changed = [h for h, _ in seen if h != old]
    if changed:
        return _changed(baseline, old, changed[-1], details, start, plans, latest_context)
    return _same(baseline, usable, old, details, start, latest_context)


def _changed(
    baseline: Baseline, old: str, new: str, details: dict[str, Any], start: datetime,
    plans: PlanLookup | None, context: dict[str, Any],
) -> Classification:
    details.update(old_plan_hash=old, new_plan_hash=new)
    before = plans(baseline.ref, old) if plans else None
    after = plans(baseline.ref, new) if plans else None
    diff: tuple[str, ...] = ()
    candidates: tuple[IndexCandidate, ...] = ()
    if before is not None and after is not None:
        diff = plandiff.describe(plandiff.diff(before, after))
        candidates = advice.lost_indexes(before, after)
    if "index_advice" in context:
        details["index_advice"] = context["index_advice"]
    return Classification(Cause.PLAN_CHANGE, old, new, diff, details, start,
                          candidates=candidates)


def _same(
    baseline: Baseline, usable: Sequence[QuerySample], plan: str, details: dict[str, Any],
    start: datetime, context: dict[str, Any],
) -> Classification:
    details.update(old_plan_hash=plan, new_plan_hash=plan)
    moved = evidence.moved_by_magnitude(details)
    if moved and context.get("plan_kind", "generic") == "generic":
        reason = (f"the generic plan captured since the slowdown matches the baseline's, but "
                  f"{' and '.join(moved)}: the executed plan likely differs from the generic one")
        return _unknown(baseline, start, details, EXECUTED_PLAN_DIFFERS, reason,
                        new=plan, old=plan)
    spill = evidence.spill(details, context.get("settings"))
    if spill:
        details["spill"] = spill
    details["spill_suspected"] = spill is not None
    cpu = evidence.same_work(details)
    if cpu:
        details["same_work"] = cpu
    ordered = sorted((s for s in usable if s.interval_start >= start),
                     key=lambda s: s.interval_start)
    spread = _spread([s.mean_ms for s in ordered])
    baseline_spread = baseline.mad_ms / baseline.median_ms if baseline.median_ms > 0 else 0.0
    details.update(spread, baseline_mad_ratio=round(baseline_spread, 3))
    if _wide(spread) and baseline_spread >= BASELINE_SPREAD:
        return Classification(Cause.PARAMETER_SENSITIVITY, plan, plan, (), details, start)
    return Classification(Cause.SAME_PLAN, plan, plan, (), details, start)


def _unknown(
    baseline: Baseline, start: datetime | None, details: dict[str, Any], reason: str,
    text: str, *, ask: bool = False, new: str | None = None, old: str | None = None,
) -> Classification:
    old = old or baseline.dominant_plan_hash
    details.update(plan_reason=reason, plan_reason_text=text, old_plan_hash=old,
                   new_plan_hash=new)
    return Classification(Cause.PLAN_UNKNOWN, old, new, (), details, start, needs_capture=ask)


def _slow(baseline: Baseline, mean_ms: float, settings: RegressionSettings) -> bool:
    return (mean_ms >= settings.min_ratio * baseline.median_ms
            and mean_ms >= baseline.p95_ms + settings.min_abs_ms)


def _sightings(
    usable: Sequence[QuerySample], known: Sequence[PlanSighting], start: datetime,
    end: datetime | None,
) -> list[tuple[str, dict[str, Any]]]:
    """Plans captured in [start, end] (end None: ongoing), oldest first, with their context."""
    def during(at: datetime) -> bool:
        return at > start and (end is None or at <= end)

    contexts = {p.plan_hash: p.context for p in known}
    found = [(s.interval_end, s.plan_hash) for s in usable
             if s.plan_observed and s.plan_hash and during(s.interval_end)]
    found += [(p.last_seen, p.plan_hash) for p in known if during(p.last_seen)]
    return [(h, contexts.get(h, {})) for _, h in sorted(set(found))]


def _before(known: Sequence[PlanSighting], start: datetime) -> str | None:
    """The plan captured last before `start`, when the baseline knows none."""
    earlier = [p for p in known if p.first_seen < start]
    return max(earlier, key=lambda p: min(p.last_seen, start)).plan_hash if earlier else None


def _described(context: dict[str, Any], captures: int) -> dict[str, Any]:
    keep = ("plan_kind", "role", "as_role", "settings", "settings_failed",
            "settings_not_settable")
    return {"captures_since_onset": captures, **{k: context[k] for k in keep if k in context}}


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

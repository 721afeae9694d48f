"""The storage side of plan verdicts: what is known about a suspect's plans, and asking for more.

Analysis reads the captures of each suspect (and the last failed attempt) before its verdict,
and asks the target's collector for a fresh capture when there is none since the slowdown
began, or for an index test (hypopg) when the plan changed and the old plan's index is gone.
Requests live in storage: whichever worker collects the target next serves them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from functools import lru_cache

from planwatch.alerting import lifecycle
from planwatch.analysis import classify
from planwatch.collectors.plans import from_json
from planwatch.model.alerts import Alert
from planwatch.model.plans import PlanNode, PlanRequest
from planwatch.model.samples import QueryRef
from planwatch.storage import plan_requests, plans
from planwatch.storage.engine import Storage

REQUEST_TTL = timedelta(minutes=30)  # a request nobody renewed for this long is not served


def known(
    st: Storage, target: str, refs: Collection[QueryRef], active: Mapping[str, Alert]
) -> dict[QueryRef, classify.PlanEvidence]:
    """The plan evidence of each of `refs`: its captures, the last failed attempt, and when
    its slowdown began according to its active regression alert."""
    if not refs:
        return {}
    asked = plan_requests.for_target(st, target)
    out = {}
    for ref in refs:
        request = asked.get((ref.database, ref.query_id))
        error = request.error if request and request.attempted_at else None
        out[ref] = classify.PlanEvidence(tuple(plans.sightings(st, ref)), error,
                                         _slowdown_since(active.get(lifecycle.regression_key(ref))))
    return out


def _slowdown_since(alert: Alert | None) -> datetime | None:
    text = alert.details.get("slowdown_since") if alert is not None else None
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def lookup(st: Storage) -> classify.PlanLookup:
    """Plan trees by (query, hash), cached for one analysis run."""
    @lru_cache(maxsize=256)
    def plan_of(ref: QueryRef, plan_hash: str) -> PlanNode | None:
        captured = plans.get(st, ref, plan_hash)
        return from_json(captured.plan_json) if captured else None

    return plan_of


def ask(
    st: Storage, classified: Mapping[QueryRef, classify.Classification], now: datetime
) -> int:
    """Request captures the verdicts need; returns how many were asked for."""
    wanted = []
    for ref, cls in classified.items():
        if cls.needs_capture:
            wanted.append(_request(ref, now, "suspect"))
        elif cls.candidates and "index_advice" not in cls.details:
            wanted.append(_request(ref, now, "index_advice", cls))
    plan_requests.request(st, wanted)
    return len(wanted)


def _request(
    ref: QueryRef, now: datetime, reason: str, cls: classify.Classification | None = None
) -> PlanRequest:
    return PlanRequest(ref.target, ref.database, ref.query_id, now, reason,
                       cls.candidates if cls else ())

"""Pure alert lifecycle: findings + active alerts + `now` -> transitions to persist.

Dedup key = kind + target + database + subject, so re-detection updates the open alert and
never opens a twin. Resolution needs `resolve_after_windows` consecutive normal evaluations,
and a condition that fires again within `repeat_interval` of its resolution reopens the same
alert (`reopen`): together they are the flap protection. Every evaluation stamps
`evaluated_at`, which the auto-resolve timeout reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from planwatch.model.alerts import Alert, AlertKind, AlertStatus
from planwatch.model.findings import HealthFinding, HotspotShift, Regression, Severity
from planwatch.model.samples import QueryRef


class Action(StrEnum):
    OPEN = "opened"
    REOPEN = "reopened"
    UPDATE = "updated"
    TICK = "normal"  # a normal window counted towards resolution; no event
    RESOLVE = "resolved"


@dataclass(frozen=True, slots=True)
class Transition:
    action: Action
    alert: Alert
    message: str = ""

    @property
    def records_event(self) -> bool:
        return self.action is not Action.TICK


def dedup_key(kind: AlertKind, target: str, database: str | None, subject: str) -> str:
    return f"{kind.value}:{target}:{database or ''}:{subject}"


def regression_key(ref: QueryRef) -> str:
    return dedup_key(AlertKind.REGRESSION, ref.target, ref.database, ref.query_id)


def _regression_fields(r: Regression) -> dict[str, Any]:
    return {
        "severity": r.severity,
        "plan_changed": r.plan_changed,
        "baseline_ms": round(r.baseline_ms, 3),
        "current_ms": round(r.current_ms, 3),
        "ratio": round(r.ratio, 2),
        "details": {
            "cause": r.cause.value,
            "p_value": r.p_value,
            "impact_ms": round(r.impact_ms, 1),
            "recent_calls": r.recent_calls,
            "baseline_calls": r.baseline_calls,
            "old_plan_hash": r.old_plan_hash,
            "new_plan_hash": r.new_plan_hash,
            "plan_diff": list(r.plan_diff),
            **r.details,
        },
    }


def _title(r: Regression) -> str:
    why = "plan changed" if r.plan_changed else r.cause.value.replace("_", " ")
    return f"query {r.ref.query_id} is {r.ratio:.1f}x slower ({why})"


def regressions(
    active: Mapping[str, Alert],
    found: Iterable[Regression],
    normal: Iterable[QueryRef],
    *,
    texts: Mapping[QueryRef, str],
    resolve_after_windows: int,
    now: datetime,
) -> list[Transition]:
    """Open/update alerts for regressions; count normal windows and resolve after enough."""
    out: list[Transition] = []
    for r in found:
        key = regression_key(r.ref)
        fields = _regression_fields(r)
        current = active.get(key)
        if current is None:
            alert = Alert(
                id=None, dedup_key=key, kind=AlertKind.REGRESSION, status=AlertStatus.OPEN,
                target=r.ref.target, database=r.ref.database, subject=r.ref.query_id,
                title=_title(r), query_id=r.ref.query_id, query_text=texts.get(r.ref),
                opened_at=now, updated_at=now, evaluated_at=now, **fields,
            )
            out.append(Transition(Action.OPEN, alert, _title(r)))
            continue
        changed = current.severity != r.severity
        alert = dataclasses.replace(
            current, title=_title(r), updated_at=now, evaluated_at=now, normal_windows=0,
            **fields,
        )
        msg = f"severity {current.severity} -> {r.severity}" if changed else ""
        out.append(Transition(Action.UPDATE if changed else Action.TICK, alert, msg))
    found_keys = {t.alert.dedup_key for t in out}
    for ref in normal:
        key = regression_key(ref)
        current = active.get(key)
        if current is None or key in found_keys:
            continue
        out.append(_count_normal(current, resolve_after_windows, now))
    return out


def _count_normal(current: Alert, resolve_after_windows: int, now: datetime) -> Transition:
    windows = current.normal_windows + 1
    if windows >= resolve_after_windows:
        resolved = dataclasses.replace(
            current, status=AlertStatus.RESOLVED, resolved_at=now, updated_at=now,
            evaluated_at=now, normal_windows=windows,
        )
        return Transition(Action.RESOLVE, resolved, f"normal for {windows} consecutive windows")
    ticked = dataclasses.replace(current, normal_windows=windows, evaluated_at=now)
    return Transition(Action.TICK, ticked)


def health(
    active: Mapping[str, Alert],
    findings: Iterable[HealthFinding],
    *,
    evaluated_targets: Iterable[str],
    resolve_after_windows: int,
    now: datetime,
) -> list[Transition]:
    """Collector-health alerts: open on a finding, resolve when the target polls cleanly again."""
    out: list[Transition] = []
    seen: set[str] = set()
    for f in findings:
        key = dedup_key(AlertKind.HEALTH, f.target, None, f.component)
        seen.add(key)
        current = active.get(key)
        if current is None:
            alert = Alert(
                id=None, dedup_key=key, kind=AlertKind.HEALTH, status=AlertStatus.OPEN,
                severity=f.severity, target=f.target, database=None, subject=f.component,
                title=f.message, opened_at=now, updated_at=now, evaluated_at=now,
                details={"component": f.component},
            )
            out.append(Transition(Action.OPEN, alert, f.message))
        else:
            alert = dataclasses.replace(
                current, title=f.message, severity=f.severity, updated_at=now, evaluated_at=now,
                normal_windows=0,
            )
            out.append(Transition(Action.TICK, alert))
    targets = set(evaluated_targets)
    for key, current in active.items():
        if current.kind is AlertKind.HEALTH and current.target in targets and key not in seen:
            out.append(_count_normal(current, resolve_after_windows, now))
    return out


def hotspot_key(ref: QueryRef) -> str:
    return dedup_key(AlertKind.HOTSPOT, ref.target, ref.database, ref.query_id)


def hotspots(
    active: Mapping[str, Alert],
    shifts: Iterable[HotspotShift],
    *,
    evaluated_targets: Iterable[str],
    texts: Mapping[QueryRef, str],
    regressed: Iterable[QueryRef] = (),
    resolve_after_windows: int,
    now: datetime,
) -> list[Transition]:
    """A lasting shift of database time towards one query opens a warning: it may be cheap
    per call yet now dominate the server (`analysis.hotspots.shifts`; rank shuffles never
    alert). A query already paged for as a regression (`regressed`: regressing or suspect now,
    or with an active regression alert) is left to that alert; the hotspot resolves after
    the shift is gone for enough windows."""
    out: list[Transition] = []
    seen: set[str] = set()
    paged = set(regressed)
    for h in shifts:
        if h.ref in paged or regression_key(h.ref) in active:
            continue
        key = hotspot_key(h.ref)
        seen.add(key)
        was = "a new query" if h.new_query else f"was {h.baseline_share:.0%}"
        title = f"query {h.ref.query_id} takes {h.share:.0%} of the database time ({was})"
        details = {"metric": "time", "share": round(h.share, 4),
                   "baseline_share": round(h.baseline_share, 4), "new_query": h.new_query,
                   "total_ms": round(h.total_ms, 1), "calls": h.calls}
        current = active.get(key)
        if current is None:
            alert = Alert(
                id=None, dedup_key=key, kind=AlertKind.HOTSPOT, status=AlertStatus.OPEN,
                severity=Severity.WARNING, target=h.ref.target, database=h.ref.database,
                subject=h.ref.query_id, title=title, query_id=h.ref.query_id,
                query_text=texts.get(h.ref), opened_at=now, updated_at=now, evaluated_at=now,
                details=details,
            )
            out.append(Transition(Action.OPEN, alert, f"database time shifted: {title}"))
            continue
        alert = dataclasses.replace(current, title=title, details=details, updated_at=now,
                                    evaluated_at=now, normal_windows=0)
        out.append(Transition(Action.TICK, alert))
    targets = set(evaluated_targets)
    for key, current in active.items():
        if current.kind is AlertKind.HOTSPOT and current.target in targets and key not in seen:
            out.append(_count_normal(current, resolve_after_windows, now))
    return out


def reopen(
    transitions: Iterable[Transition], recent: Mapping[str, Alert], *, now: datetime
) -> list[Transition]:
    """Turn openings whose key was resolved recently (`recent`, by dedup key) into reopenings.

    The reopened alert keeps its id and audit trail and takes the new finding's fields;
    `opened_at` becomes `now` so escalation counts from the reopening.
    """
    out: list[Transition] = []
    for t in transitions:
        old = recent.get(t.alert.dedup_key) if t.action is Action.OPEN else None
        if old is None:
            out.append(t)
            continue
        alert = dataclasses.replace(
            t.alert, id=old.id, status=AlertStatus.OPEN, opened_at=now, updated_at=now,
            evaluated_at=now, resolved_at=None, escalated_at=None, normal_windows=0,
        )
        why = f"fired again {_ago(old.resolved_at, now)} after it resolved"
        out.append(Transition(Action.REOPEN, alert, f"{t.message} ({why})" if t.message else why))
    return out


def _ago(then: datetime | None, now: datetime) -> str:
    seconds = int((now - then).total_seconds()) if then else 0
    return f"{seconds // 60}m{seconds % 60:02d}s"

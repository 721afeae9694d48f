"""Pure alert lifecycle: conditions judged now + active alerts + `now` -> transitions to persist.

Every kind of alert (regressions, hotspots, collector health, planwatch's own health, checks)
goes through the same two steps: `fire` for a condition seen now, `calm` for one judged normal.

- Dedup key = kind + target + database + subject: re-detection updates the active alert and
  never opens a twin.
- Pending: a condition seen for the first time makes a *pending* alert (stored, shown, never
  notified) that opens once the condition has held for `for_` (an evaluation up to `EARLY` of
  `for_` early counts, so scheduling jitter does not cost a whole interval). A pending alert
  whose condition goes away is dropped: resolved with a `dropped` event, never notified.
- Flap protection: an open alert resolves after `resolve_after` consecutive normal
  evaluations, and a condition that fires again within `repeat_interval` of its resolution
  reuses the resolved alert (`reopen`, applied by jobs/alerts.py with the resolved alerts).
- Every evaluation stamps `evaluated_at`, which the auto-resolve timeout reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from planwatch.model.alerts import Alert, AlertKind, AlertStatus
from planwatch.model.findings import HealthFinding, HotspotShift, Regression, Severity
from planwatch.model.samples import QueryRef

EARLY = 0.1
NO_WAIT = timedelta(0)


class Action(StrEnum):
    PEND = "pending"  # condition seen, not yet for long enough: recorded, never notified
    OPEN = "opened"
    REOPEN = "reopened"
    UPDATE = "updated"
    TICK = "normal"  # state saved (evaluation stamp, normal count); no event
    RESOLVE = "resolved"
    DROP = "dropped"  # a pending alert whose condition went away: recorded, never notified


@dataclass(frozen=True, slots=True)
class Transition:
    action: Action
    alert: Alert
    message: str = ""
    was: AlertStatus | None = None  # the status it was read with (None: a new alert)

    @property
    def records_event(self) -> bool:
        return self.action is not Action.TICK


@dataclass(frozen=True, slots=True)
class Policy:
    """How long a condition must hold to open (`for_`), how many normal runs resolve it."""

    for_: timedelta = NO_WAIT
    resolve_after: int = 1


def dedup_key(kind: AlertKind, target: str, database: str | None, subject: str) -> str:
    return f"{kind.value}:{target}:{database or ''}:{subject}"


def regression_key(ref: QueryRef) -> str:
    return dedup_key(AlertKind.REGRESSION, ref.target, ref.database, ref.query_id)


def hotspot_key(ref: QueryRef) -> str:
    return dedup_key(AlertKind.HOTSPOT, ref.target, ref.database, ref.query_id)


# -- the one state machine -----------------------------------------------------------------

_DESCRIPTIVE = ("severity", "title", "query_text", "plan_changed", "baseline_ms", "current_ms",
                "ratio", "details")


def fire(
    current: Alert | None,
    candidate: Alert,
    *,
    for_: timedelta,
    now: datetime,
    message: str = "",
    change: str | None = None,
) -> Transition:
    """The condition of `candidate` holds now. `change`: what makes this an `updated` event
    (default: a severity change); empty means nothing worth telling."""
    if current is None:
        pending = dataclasses.replace(
            candidate, id=None, status=AlertStatus.PENDING, pending_since=now, opened_at=None,
            updated_at=now, evaluated_at=now, resolved_at=None, normal_windows=0,
        )
        return _promote(pending, for_, now, message) or Transition(Action.PEND, pending, message)
    fields = {f: getattr(candidate, f) for f in _DESCRIPTIVE}
    if candidate.query_text is None:
        del fields["query_text"]
    alert = dataclasses.replace(current, **fields, updated_at=now, evaluated_at=now,
                                normal_windows=0)
    if current.status is AlertStatus.PENDING:
        promoted = _promote(alert, for_, now, message)
        return promoted or Transition(Action.TICK, alert, was=current.status)
    if change is None:
        change = severity_change(current.severity, candidate.severity)
    return Transition(Action.UPDATE if change else Action.TICK, alert, change, current.status)


def severity_change(before: Severity, after: Severity) -> str:
    return "" if before == after else f"severity {before.value} -> {after.value}"


def _promote(alert: Alert, for_: timedelta, now: datetime, message: str) -> Transition | None:
    since = alert.pending_since or now
    if now - since < for_ * (1 - EARLY):
        return None
    before = None if alert.id is None else AlertStatus.PENDING
    action = Action.REOPEN if alert.opened_at is not None else Action.OPEN
    opened = dataclasses.replace(alert, status=AlertStatus.OPEN, opened_at=now,
                                 pending_since=None, escalated_at=None, resolved_at=None)
    held = f" (held for {_human(now - since)})" if for_ > NO_WAIT else ""
    return Transition(action, opened, message + held, before)


def calm(current: Alert, *, resolve_after: int, now: datetime, why: str = "") -> Transition:
    """The condition of `current` is normal now: drop it if pending, else count towards
    resolution."""
    if current.status is AlertStatus.PENDING:
        since = current.pending_since or now
        dropped = dataclasses.replace(
            current, status=AlertStatus.RESOLVED, resolved_at=now, updated_at=now,
            evaluated_at=now, pending_since=None,
        )
        text = f"normal again after {_human(now - since)} pending; never notified"
        return Transition(Action.DROP, dropped, f"{why}: {text}" if why else text,
                          current.status)
    windows = current.normal_windows + 1
    if windows >= resolve_after:
        resolved = dataclasses.replace(
            current, status=AlertStatus.RESOLVED, resolved_at=now, updated_at=now,
            evaluated_at=now, normal_windows=windows,
        )
        text = why or "normal"
        text += f" for {windows} consecutive evaluations" if windows > 1 else ""
        return Transition(Action.RESOLVE, resolved, text, current.status)
    ticked = dataclasses.replace(current, normal_windows=windows, evaluated_at=now)
    return Transition(Action.TICK, ticked, was=current.status)


def reopen(
    transitions: Iterable[Transition], recent: Mapping[str, Alert], *, now: datetime
) -> list[Transition]:
    """New alerts (no id) whose key resolved recently (`recent`, by dedup key) reuse that alert:
    same id and audit trail, the new condition's fields. A pending one stays pending (it keeps
    the old `opened_at`, so its opening will be a `reopened`); an opening becomes `reopened`.
    """
    out: list[Transition] = []
    for t in transitions:
        old = recent.get(t.alert.dedup_key) if t.alert.id is None else None
        if old is None:
            out.append(t)
            continue
        alert = dataclasses.replace(t.alert, id=old.id, escalated_at=None, resolved_at=None,
                                    opened_at=t.alert.opened_at or old.opened_at)
        why = f"fired again {_ago(old.resolved_at, now)} after it resolved"
        message = f"{t.message} ({why})" if t.message else why
        action = t.action
        if action is Action.OPEN and old.opened_at is not None:
            action = Action.REOPEN
        out.append(Transition(action, alert, message, AlertStatus.RESOLVED))
    return out


def _ago(then: datetime | None, now: datetime) -> str:
    return _human(now - then) if then else "0m00s"


def _human(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s"


# -- the kinds: what fires, what is normal --------------------------------------------------


def _regression_alert(r: Regression, key: str, texts: Mapping[QueryRef, str]) -> Alert:
    why = "plan changed" if r.plan_changed else r.cause.value.replace("_", " ")
    return Alert(
        id=None, dedup_key=key, kind=AlertKind.REGRESSION, status=AlertStatus.PENDING,
        severity=r.severity, target=r.ref.target, database=r.ref.database,
        subject=r.ref.query_id, title=f"query {r.ref.query_id} is {r.ratio:.1f}x slower ({why})",
        query_id=r.ref.query_id, query_text=texts.get(r.ref), plan_changed=r.plan_changed,
        baseline_ms=round(r.baseline_ms, 3), current_ms=round(r.current_ms, 3),
        ratio=round(r.ratio, 2), details=_regression_details(r),
    )


def _regression_details(r: Regression) -> dict[str, Any]:
    return {
        "cause": r.cause.value,
        "p_value": r.p_value,
        "impact_ms": round(r.impact_ms, 1),
        "recent_calls": r.recent_calls,
        "baseline_calls": r.baseline_calls,
        "old_plan_hash": r.old_plan_hash,
        "new_plan_hash": r.new_plan_hash,
        "plan_diff": list(r.plan_diff),
        **r.details,
    }


def regressions(
    active: Mapping[str, Alert],
    found: Iterable[Regression],
    normal: Iterable[QueryRef],
    *,
    texts: Mapping[QueryRef, str],
    resolve_after_windows: int,
    now: datetime,
    for_: timedelta = NO_WAIT,
) -> list[Transition]:
    """Regressions found now fire; the queries judged normal count towards resolution."""
    out: list[Transition] = []
    for r in found:
        key = regression_key(r.ref)
        candidate = _regression_alert(r, key, texts)
        out.append(fire(active.get(key), candidate, for_=for_, now=now, message=candidate.title))
    found_keys = {t.alert.dedup_key for t in out}
    for ref in normal:
        key = regression_key(ref)
        current = active.get(key)
        if current is not None and key not in found_keys:
            out.append(calm(current, resolve_after=resolve_after_windows, now=now))
    return out


def health(
    active: Mapping[str, Alert],
    findings: Iterable[HealthFinding],
    *,
    evaluated_targets: Iterable[str],
    resolve_after_windows: int,
    now: datetime,
    for_: timedelta = NO_WAIT,
) -> list[Transition]:
    """Health findings fire; an evaluated target's health alert without a finding is normal."""
    out: list[Transition] = []
    seen: set[str] = set()
    for f in findings:
        key = dedup_key(AlertKind.HEALTH, f.target, None, f.component)
        seen.add(key)
        candidate = Alert(
            id=None, dedup_key=key, kind=AlertKind.HEALTH, status=AlertStatus.PENDING,
            severity=f.severity, target=f.target, database=None, subject=f.component,
            title=f.message, details={"component": f.component},
        )
        out.append(fire(active.get(key), candidate, for_=for_, now=now, message=f.message,
                        change=""))
    targets = set(evaluated_targets)
    for key, current in active.items():
        if current.kind is AlertKind.HEALTH and current.target in targets and key not in seen:
            out.append(calm(current, resolve_after=resolve_after_windows, now=now))
    return out


def hotspots(
    active: Mapping[str, Alert],
    shifts: Iterable[HotspotShift],
    *,
    evaluated_targets: Iterable[str],
    texts: Mapping[QueryRef, str],
    regressed: Iterable[QueryRef] = (),
    resolve_after_windows: int,
    now: datetime,
    for_: timedelta = NO_WAIT,
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
        current = active.get(key)
        seen.add(key)
        was = "a new query" if h.new_query else f"was {h.baseline_share:.0%}"
        title = f"query {h.ref.query_id} takes {h.share:.0%} of the database time ({was})"
        candidate = Alert(
            id=None, dedup_key=key, kind=AlertKind.HOTSPOT, status=AlertStatus.PENDING,
            severity=Severity.WARNING, target=h.ref.target, database=h.ref.database,
            subject=h.ref.query_id, title=title, query_id=h.ref.query_id,
            query_text=texts.get(h.ref),
            details={"metric": "time", "share": round(h.share, 4),
                     "baseline_share": round(h.baseline_share, 4), "new_query": h.new_query,
                     "total_ms": round(h.total_ms, 1), "calls": h.calls},
        )
        out.append(fire(current, candidate, for_=for_, now=now,
                        message=f"database time shifted: {title}"))
    targets = set(evaluated_targets)
    for key, current in active.items():
        if current.kind is AlertKind.HOTSPOT and current.target in targets and key not in seen:
            out.append(calm(current, resolve_after=resolve_after_windows, now=now))
    return out

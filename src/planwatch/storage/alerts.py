"""Alerts and their audit trail; the database refuses a second active alert per dedup key."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from planwatch.errors import NotFound, StorageConflict
from planwatch.model.alerts import Alert, AlertEvent, AlertKind, AlertStatus
from planwatch.model.findings import Severity
from planwatch.storage import _sql
from planwatch.storage.engine import Storage
from planwatch.storage.tables import ACTIVE_ALERT_STATUSES
from planwatch.storage.tables import alert_events as ev
from planwatch.storage.tables import alerts as a


def find_active(
    st: Storage, dedup_keys: Collection[str] | None = None, *, target: str | None = None,
) -> dict[str, Alert]:
    """Pending, open and acknowledged alerts by dedup key (all of them, of these keys, or of
    one target: an analysis reads its own target's, not the fleet's)."""
    base = sa.select(a).where(a.c.status.in_(ACTIVE_ALERT_STATUSES))
    if target is not None:
        base = base.where(a.c.target == target)
    with st.connect() as conn:
        if dedup_keys is None:
            rows = list(conn.execute(base))
        else:
            keys = sorted(set(dedup_keys))
            rows = [r for c in _sql.chunks(keys) for r in conn.execute(base.where(_in(c)))]
    return {r.dedup_key: _from_row(r) for r in rows}


def _in(keys: Collection[str]) -> sa.ColumnElement[bool]:
    return a.c.dedup_key.in_(list(keys))


def create(
    st: Storage, alert: Alert, *, actor: str, message: str = "", event: str = "opened"
) -> Alert:
    """Insert the alert and its first event ("opened", or "pending") together; returns the
    alert with its id.

    Raises `StorageConflict` when an active alert with the same dedup key exists.
    """
    at = _when(alert, alert.opened_at or alert.updated_at)
    with st.begin() as conn:
        alert_id = conn.execute(sa.insert(a).values(_values(alert)).returning(a.c.id)).scalar_one()
        conn.execute(sa.insert(ev).values(_event_row(alert_id, at, event, actor, message)))
    return dataclasses.replace(alert, id=alert_id)


def update(
    st: Storage,
    alert: Alert,
    *,
    event: str | None = None,
    actor: str = "",
    message: str = "",
    data: dict[str, Any] | None = None,
    expect: AlertStatus | None = None,
) -> None:
    """Save the alert's current state, plus one audit event in the same transaction.

    With `expect`, only if the stored alert still has that status: `StorageConflict` when
    someone changed it since it was read (a human ack, another worker).
    """
    alert_id = _require_id(alert)
    stmt = sa.update(a).where(a.c.id == alert_id)
    if expect is not None:
        stmt = stmt.where(a.c.status == AlertStatus(expect).value)
    with st.begin() as conn:
        done = conn.execute(stmt.values(_values(alert)))
        if done.rowcount == 0 and expect is not None:
            now = conn.execute(sa.select(a.c.status).where(a.c.id == alert_id)).scalar()
            if now is not None:
                raise StorageConflict(f"alert {alert_id} is {now} now, not {expect.value}")
        if done.rowcount == 0:
            raise NotFound(f"alert {alert_id} does not exist")
        if event is not None:
            at = _when(alert, alert.updated_at)
            row = _event_row(alert_id, at, event, actor, message, data)
            conn.execute(sa.insert(ev).values(row))


def _when(alert: Alert, at: datetime | None) -> datetime:
    """The event's time, which the caller decided (its `now`); storage never reads the clock."""
    if at is None:
        raise ValueError(f"alert {alert.dedup_key}: no opened_at/updated_at for its event")
    return at


def add_event(st: Storage, event: AlertEvent) -> None:
    row = _event_row(event.alert_id, event.at, event.event, event.actor, event.message, event.data)
    with st.begin() as conn:
        conn.execute(sa.insert(ev).values(row))


def get(st: Storage, alert_id: int) -> Alert:
    with st.connect() as conn:
        row = conn.execute(sa.select(a).where(a.c.id == alert_id)).one_or_none()
    if row is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return _from_row(row)


def by_ids(st: Storage, ids: Collection[int]) -> list[Alert]:
    """The alerts with these ids (unknown ids are skipped), by id."""
    found: list[Alert] = []
    with st.connect() as conn:
        for chunk in _sql.chunks(sorted(set(ids))):
            found += [_from_row(r) for r in conn.execute(sa.select(a).where(a.c.id.in_(chunk)))]
    return found


def list_alerts(
    st: Storage,
    *,
    status: str = "open",
    kind: str | None = None,
    target: str | None = None,
    limit: int = 500,
) -> list[Alert]:
    """Alerts, most recently updated first; status "open" (any active), "all" or a status."""
    stmt = sa.select(a).order_by(a.c.updated_at.desc().nulls_last(), a.c.id.desc()).limit(limit)
    if status == "open":
        stmt = stmt.where(a.c.status.in_(ACTIVE_ALERT_STATUSES))
    elif status != "all":
        stmt = stmt.where(a.c.status == AlertStatus(status).value)
    if kind is not None:
        stmt = stmt.where(a.c.kind == AlertKind(kind).value)
    if target is not None:
        stmt = stmt.where(a.c.target == target)
    with st.connect() as conn:
        return [_from_row(r) for r in conn.execute(stmt)]


def events(st: Storage, alert_id: int) -> list[AlertEvent]:
    """The alert's audit trail, oldest first."""
    stmt = sa.select(ev).where(ev.c.alert_id == alert_id).order_by(ev.c.at, ev.c.id)
    with st.connect() as conn:
        return [
            AlertEvent(r.alert_id, r.at, r.event, r.actor, r.message, r.data or {})
            for r in conn.execute(stmt)
        ]


def recently_resolved(
    st: Storage, dedup_keys: Collection[str], since: datetime
) -> dict[str, Alert]:
    """The newest alert per key resolved at or after `since` (to reopen instead of twin)."""
    base = (
        sa.select(a)
        .where(a.c.status == AlertStatus.RESOLVED.value, a.c.resolved_at >= since)
        .order_by(a.c.resolved_at, a.c.id)
    )
    found: dict[str, Alert] = {}
    with st.connect() as conn:
        for chunk in _sql.chunks(sorted(set(dedup_keys))):
            for r in conn.execute(base.where(_in(chunk))):
                found[r.dedup_key] = _from_row(r)  # later rows are newer
    return found


def _require_id(alert: Alert) -> int:
    if alert.id is None:
        raise ValueError("alert has no id; create() it first")
    return alert.id


def _values(alert: Alert) -> dict[str, Any]:
    values = {f.name: getattr(alert, f.name) for f in dataclasses.fields(alert)}
    del values["id"]
    values["kind"] = AlertKind(alert.kind).value
    values["status"] = AlertStatus(alert.status).value
    values["severity"] = Severity(alert.severity).value
    values["details"] = alert.details or {}
    return values


def _event_row(
    alert_id: int,
    at: datetime,
    event: str,
    actor: str,
    message: str,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "at": at,
        "event": event,
        "actor": actor,
        "message": message,
        "data": data or {},
    }


def _from_row(row: Any) -> Alert:
    return Alert(
        id=row.id,
        dedup_key=row.dedup_key,
        kind=AlertKind(row.kind),
        status=AlertStatus(row.status),
        severity=Severity(row.severity),
        target=row.target,
        database=row.database,
        subject=row.subject,
        title=row.title,
        query_id=row.query_id,
        query_text=row.query_text,
        plan_changed=row.plan_changed,
        baseline_ms=row.baseline_ms,
        current_ms=row.current_ms,
        ratio=row.ratio,
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        resolved_at=row.resolved_at,
        normal_windows=row.normal_windows,
        details=row.details or {},
        evaluated_at=row.evaluated_at,
        escalated_at=row.escalated_at,
        pending_since=row.pending_since,
    )


from_row = _from_row  # for other storage modules that join alerts into their reads


def escalation_due(st: Storage, opened_before: datetime, *, limit: int = 10_000) -> list[Alert]:
    """Open (not acknowledged) alerts opened at or before `opened_before`, never escalated."""
    stmt = (
        sa.select(a)
        .where(
            a.c.status == AlertStatus.OPEN.value,
            a.c.escalated_at.is_(None),
            a.c.opened_at <= opened_before,
        )
        .order_by(a.c.id)
        .limit(limit)
    )
    with st.connect() as conn:
        return [_from_row(r) for r in conn.execute(stmt)]


def not_evaluated_since(st: Storage, cutoff: datetime, *, limit: int = 10_000) -> list[Alert]:
    """Active alerts whose condition was last judged before `cutoff`.

    Alerts whose writer does not stamp `evaluated_at` count from their last update.
    """
    seen = sa.func.coalesce(a.c.evaluated_at, a.c.updated_at, a.c.opened_at)
    stmt = (
        sa.select(a)
        .where(a.c.status.in_(ACTIVE_ALERT_STATUSES), seen < cutoff)
        .order_by(a.c.id)
        .limit(limit)
    )
    with st.connect() as conn:
        return [_from_row(r) for r in conn.execute(stmt)]


def set_many(
    st: Storage,
    alert_ids: Collection[int],
    values: dict[str, Any],
    *,
    at: datetime,
    event: str,
    actor: str,
    message: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Set the same `values` on many alerts and record one `event` each, in one transaction.

    The bulk path of the alert processor (escalation, auto-resolution): one UPDATE per
    chunk of ids instead of one per alert.
    """
    ids = sorted(set(alert_ids))
    if not ids:
        return
    with st.begin() as conn:
        for chunk in _sql.chunks(ids):
            conn.execute(sa.update(a).where(a.c.id.in_(chunk)).values(values))
        conn.execute(sa.insert(ev), [_event_row(i, at, event, actor, message, data) for i in ids])

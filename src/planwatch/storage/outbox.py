"""The notification outbox: alert events become one row per channel, delivered at most once.

Routing reads the events no one has routed yet (`alert_events.routed_at IS NULL`) and, in one
transaction, inserts their outbox rows (the unique (event, channel) key makes a repeat a
no-op), writes any "suppressed" notes and marks the events routed. Delivery claims due rows
of one channel by pushing their `next_attempt_at` past the send (with `FOR UPDATE SKIP
LOCKED` on PostgreSQL), so two workers never send the same row, and a crash mid-send only
makes the row due again after the claim expires. Every attempt is written to alert_events.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from planwatch.model.alerts import Alert, AlertEvent, Delivery
from planwatch.storage import _sql
from planwatch.storage import alerts as alert_store
from planwatch.storage.engine import Storage
from planwatch.storage.tables import alert_events as ev
from planwatch.storage.tables import alerts as a
from planwatch.storage.tables import notification_outbox as o

PENDING, SENT, FAILED = "pending", "sent", "failed"


@dataclass(frozen=True, slots=True)
class UnroutedEvent:
    event_id: int
    event: AlertEvent
    alert: Alert


@dataclass(frozen=True, slots=True)
class Backlog:
    """Undelivered rows of one channel, for health checks and the dashboard."""

    channel: str
    pending: int
    failing: int  # pending rows that already failed at least once
    failed: int  # rows given up on
    last_error: str | None
    oldest: datetime | None


def unrouted(st: Storage, *, limit: int = 20_000) -> list[UnroutedEvent]:
    """Events not yet routed, oldest first, with their alert's current state."""
    stmt = (
        sa.select(
            a, ev.c.id.label("ev_id"), ev.c.at.label("ev_at"), ev.c.event.label("ev_event"),
            ev.c.actor.label("ev_actor"), ev.c.message.label("ev_message"),
            ev.c.data.label("ev_data"),
        )
        .select_from(ev.join(a, a.c.id == ev.c.alert_id))
        .where(ev.c.routed_at.is_(None))
        .order_by(ev.c.id)
        .limit(limit)
    )
    with st.connect() as conn:
        return [
            UnroutedEvent(
                r.ev_id,
                AlertEvent(r.id, r.ev_at, r.ev_event, r.ev_actor, r.ev_message, r.ev_data or {}),
                alert_store.from_row(r),
            )
            for r in conn.execute(stmt)
        ]


def route(
    st: Storage,
    *,
    event_ids: Collection[int],
    deliveries: Sequence[Delivery],
    notes: Sequence[AlertEvent],
    now: datetime,
) -> int:
    """Enqueue deliveries, record notes and mark the events routed, all at once.

    Returns the number of outbox rows written; rows that already existed are skipped (when
    the driver cannot tell how many, all rows count).
    """
    inserted = 0
    with st.begin() as conn:
        if deliveries:
            stmt = _sql.insert(conn, o).on_conflict_do_nothing(
                index_elements=["event_id", "channel"]
            )
            # No RETURNING: psycopg then pipelines one short prepared statement, much
            # cheaper than multi-row VALUES it would have to parse each time.
            for chunk in _sql.chunks(deliveries, 5000):
                done = _sql.execute_columns(conn, stmt, o, _delivery_columns(chunk, now))
                inserted += done if done >= 0 else len(chunk)
        if notes:
            conn.execute(sa.insert(ev), [_note_row(n, now) for n in notes])
        for ids in _sql.chunks(sorted(event_ids)):
            conn.execute(sa.update(ev).where(ev.c.id.in_(ids)).values(routed_at=now))
    return inserted


def channels_due(st: Storage, now: datetime) -> list[str]:
    stmt = (
        sa.select(o.c.channel)
        .where(o.c.status == PENDING, o.c.next_attempt_at <= now)
        .distinct()
        .order_by(o.c.channel)
    )
    with st.connect() as conn:
        return list(conn.scalars(stmt))


def claim(
    st: Storage, channel: str, *, now: datetime, hold: timedelta, limit: int = 50
) -> list[Delivery]:
    """Take up to `limit` due rows of `channel` for `hold` (the longest a send may take)."""
    stmt = (
        sa.select(o)
        .where(o.c.status == PENDING, o.c.channel == channel, o.c.next_attempt_at <= now)
        .order_by(o.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with st.begin() as conn:
        rows = list(conn.execute(stmt))
        ids = [r.id for r in rows]
        if ids:
            conn.execute(sa.update(o).where(o.c.id.in_(ids)).values(next_attempt_at=now + hold))
    return [
        Delivery(r.id, r.alert_id, r.event_id, r.channel, r.payload or {}, r.attempts,
                 r.created_at)
        for r in rows
    ]


def mark_sent(st: Storage, d: Delivery, *, now: datetime) -> None:
    """The channel accepted the message: the row is done, the attempt is audited."""
    attempt = d.attempts + 1
    with st.begin() as conn:
        conn.execute(
            sa.update(o).where(o.c.id == d.id)
            .values(status=SENT, sent_at=now, attempts=attempt, last_error=None)
        )
        note = AlertEvent(d.alert_id, now, "notified", "outbox", f"sent to {d.channel}",
                          {"channel": d.channel, "event_id": d.event_id, "attempt": attempt})
        conn.execute(sa.insert(ev).values(_note_row(note, now)))


def mark_failed(
    st: Storage, d: Delivery, *, now: datetime, error: str, retry_at: datetime | None
) -> None:
    """The send failed: retry at `retry_at`, or give up (status failed) when it is None."""
    attempt = d.attempts + 1
    values: dict[str, Any] = {"attempts": attempt, "last_error": error[:2000]}
    values.update({"next_attempt_at": retry_at} if retry_at else {"status": FAILED})
    data = {"channel": d.channel, "event_id": d.event_id, "attempt": attempt,
            "retry_at": retry_at.isoformat() if retry_at else None}
    with st.begin() as conn:
        conn.execute(sa.update(o).where(o.c.id == d.id).values(values))
        note = AlertEvent(d.alert_id, now, "notification_failed", "outbox",
                          f"{d.channel}: {error}"[:2000], data)
        conn.execute(sa.insert(ev).values(_note_row(note, now)))


def release(st: Storage, deliveries: Sequence[Delivery], *, until: datetime) -> None:
    """Hand claimed rows back unsent, due again at `until` (their channel is failing)."""
    ids = [d.id for d in deliveries]
    with st.begin() as conn:
        for chunk in _sql.chunks(ids):
            conn.execute(sa.update(o).where(o.c.id.in_(chunk)).values(next_attempt_at=until))


def for_alert(st: Storage, alert_id: int) -> list[tuple[Delivery, str, str | None]]:
    """The alert's outbox rows with their status and last error, oldest first."""
    stmt = sa.select(o).where(o.c.alert_id == alert_id).order_by(o.c.id)
    with st.connect() as conn:
        return [
            (Delivery(r.id, r.alert_id, r.event_id, r.channel, r.payload or {}, r.attempts,
                      r.created_at), r.status, r.last_error)
            for r in conn.execute(stmt)
        ]


def backlog(st: Storage) -> list[Backlog]:
    """Per channel: rows still pending, pending rows that failed before, rows given up on."""
    failing = sa.case((o.c.attempts > 0, 1), else_=0)
    stmt = (
        sa.select(
            o.c.channel, o.c.status, sa.func.count(), sa.func.sum(failing),
            sa.func.min(o.c.created_at), sa.func.max(o.c.last_error),
        )
        .where(o.c.status.in_((PENDING, FAILED)))
        .group_by(o.c.channel, o.c.status)
    )
    found: dict[str, dict[str, Any]] = {}
    with st.connect() as conn:
        for channel, status, n, n_failing, oldest, error in conn.execute(stmt):
            b = found.setdefault(channel, {"pending": 0, "failing": 0, "failed": 0,
                                           "last_error": None, "oldest": None})
            if status == PENDING:
                b.update(pending=n, failing=int(n_failing or 0), oldest=_from_db(oldest))
            else:
                b["failed"] = n
            b["last_error"] = b["last_error"] or error
    return [Backlog(channel=name, **b) for name, b in sorted(found.items())]


def _from_db(value: Any) -> datetime | None:
    from planwatch.storage.tables import from_db

    if value is None:
        return None
    if isinstance(value, str):  # SQLite aggregates lose the column type
        return from_db(datetime.fromisoformat(value))
    return from_db(value)


def _delivery_columns(ds: Sequence[Delivery], now: datetime) -> dict[str, list[Any]]:
    """New pending outbox rows, column-wise (deliveries of one event share its payload)."""
    n = len(ds)
    return {
        "alert_id": [d.alert_id for d in ds], "event_id": [d.event_id for d in ds],
        "channel": [d.channel for d in ds], "status": [PENDING] * n,
        "payload": [d.payload for d in ds], "attempts": [0] * n, "next_attempt_at": [now] * n,
        "last_error": [None] * n, "created_at": [now] * n, "sent_at": [None] * n,
    }


def _note_row(n: AlertEvent, now: datetime) -> dict[str, Any]:
    """An audit event the processor writes itself: born routed, so it never notifies."""
    return {"alert_id": n.alert_id, "at": n.at, "event": n.event, "actor": n.actor,
            "message": n.message, "data": n.data or {}, "routed_at": now}

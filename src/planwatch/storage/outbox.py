"""The notification outbox: alert events waiting, per channel and group, to be sent.

Routing reads the events no one has routed yet (`alert_events.routed_at IS NULL`) and, in one
transaction, inserts one row per (event, channel) — the unique key makes a repeat a no-op —,
writes any "suppressed" notes and marks the events routed. A row waits (`pending`) until its
group is due; `storage.notifications.batch_waiting` then puts it in a message (`batched`),
which ends `sent` or `failed` with it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from planwatch.model.alerts import Alert, AlertEvent, Delivery
from planwatch.storage import _sql
from planwatch.storage import alerts as alert_store
from planwatch.storage.engine import Storage
from planwatch.storage.tables import alert_events as ev
from planwatch.storage.tables import alerts as a
from planwatch.storage.tables import from_db
from planwatch.storage.tables import notification_outbox as o

WAITING, BATCHED, SENT, FAILED = "pending", "batched", "sent", "failed"


@dataclass(frozen=True, slots=True)
class UnroutedEvent:
    event_id: int
    event: AlertEvent
    alert: Alert


@dataclass(frozen=True, slots=True)
class Waiting:
    """Rows of one (channel, group) not yet in a message."""

    channel: str
    group_key: str
    oldest: datetime
    last_id: int


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
            conn.execute(sa.insert(ev), [note_row(n, now) for n in notes])
        for ids in _sql.chunks(sorted(event_ids)):
            conn.execute(sa.update(ev).where(ev.c.id.in_(ids)).values(routed_at=now))
    return inserted


def waiting(st: Storage) -> list[Waiting]:
    """Per (channel, group) with rows not yet in a message: the oldest one's time, last id."""
    stmt = (
        sa.select(o.c.channel, o.c.group_key, sa.func.min(o.c.created_at), sa.func.max(o.c.id))
        .where(o.c.status == WAITING)
        .group_by(o.c.channel, o.c.group_key)
        .order_by(o.c.channel, o.c.group_key)
    )
    with st.connect() as conn:
        return [Waiting(ch, key, _utc(oldest), int(last))
                for ch, key, oldest, last in conn.execute(stmt)]


def lock_waiting(conn: sa.Connection, groups: Collection[tuple[str, str]],
                 up_to: int) -> list[Delivery]:
    """In the caller's transaction: the waiting rows of these (channel, group)s, oldest first,
    locked (PostgreSQL skips rows another worker is batching; SQLite writes one at a time)."""
    stmt = (sa.select(o).where(o.c.status == WAITING, o.c.id <= up_to).order_by(o.c.id)
            .with_for_update(skip_locked=True))
    wanted = set(groups)
    return [Delivery(r.id, r.alert_id, r.event_id, r.channel, r.payload or {}, r.group_key,
                     r.created_at)
            for r in conn.execute(stmt) if (r.channel, r.group_key) in wanted]


def move_into(conn: sa.Connection, batches: Sequence[tuple[Sequence[int], int]]) -> None:
    """In the caller's transaction: each batch's rows now travel in its message (id).

    Rows of one-row batches (no grouping) go in one executemany; larger batches by IN lists.
    """
    singles = [(rows[0], nid) for rows, nid in batches if len(rows) == 1]
    if singles:
        stmt = (sa.update(o).where(o.c.id == sa.bindparam("row"))
                .values(status=BATCHED, notification_id=sa.bindparam("nid")))
        for chunk in _sql.chunks(singles, 5000):
            conn.execute(stmt, [{"row": r, "nid": nid} for r, nid in chunk])
    for rows, nid in batches:
        if len(rows) > 1:
            for ids in _sql.chunks(sorted(rows)):
                conn.execute(sa.update(o).where(o.c.id.in_(ids))
                             .values(status=BATCHED, notification_id=nid))


def give_up_waiting(st: Storage, channel: str, before: datetime) -> int:
    """Rows of a channel no longer configured, waiting since before `before`: failed."""
    stmt = (sa.update(o).where(o.c.status == WAITING, o.c.channel == channel,
                               o.c.created_at < before).values(status=FAILED))
    with st.begin() as conn:
        return int(conn.execute(stmt).rowcount)


def _utc(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite aggregates lose the column type
        value = datetime.fromisoformat(value)
    return from_db(value)


def _delivery_columns(ds: Sequence[Delivery], now: datetime) -> dict[str, list[Any]]:
    """New waiting outbox rows, column-wise (deliveries of one event share its payload);
    `created_at` is the event's time, from which a new group's `group_wait` counts."""
    n = len(ds)
    return {
        "alert_id": [d.alert_id for d in ds], "event_id": [d.event_id for d in ds],
        "channel": [d.channel for d in ds], "group_key": [d.group_key for d in ds],
        "status": [WAITING] * n, "payload": [d.payload for d in ds],
        "notification_id": [None] * n, "created_at": [d.created_at or now for d in ds],
        "sent_at": [None] * n,
    }


def note_row(n: AlertEvent, now: datetime) -> dict[str, Any]:
    """An audit event the processor writes itself: born routed, so it never notifies."""
    return {"alert_id": n.alert_id, "at": n.at, "event": n.event, "actor": n.actor,
            "message": n.message, "data": n.data or {}, "routed_at": now}

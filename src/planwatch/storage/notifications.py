"""Notifications (messages to one channel) and the per-group state of what a channel was told.

A message is created with its final payload and idempotency key, so every re-send — a retry
after a failure, a crash recovery, a `resend` — sends the same bytes with the same key.
Delivery claims due messages of one channel by pushing their `next_attempt_at` past the send
and recording the worker (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so two workers never send
the same message; a message claimed by a worker that is since Stopped or Dead is due again at
once, any other claim when it expires. Every attempt is written to the alerts' audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from planwatch.errors import NotFound, PlanwatchError
from planwatch.model.alerts import AlertEvent, Delivery, Notification, NotificationStatus
from planwatch.model.jobs import WorkerStatus
from planwatch.storage import _sql, outbox
from planwatch.storage.engine import Storage
from planwatch.storage.outbox import BATCHED, FAILED, SENT, note_row
from planwatch.storage.tables import alert_events as ev
from planwatch.storage.tables import from_db, workers
from planwatch.storage.tables import notification_groups as g
from planwatch.storage.tables import notification_outbox as o
from planwatch.storage.tables import notifications as n

PENDING = NotificationStatus.PENDING.value
GONE_WORKERS = (WorkerStatus.STOPPED.value, WorkerStatus.DEAD.value)


class NotResendable(PlanwatchError):
    """Only a notification that was given up can be re-sent."""


@dataclass(frozen=True, slots=True)
class GroupState:
    channel: str
    group_key: str
    labels: dict[str, str]
    firing: tuple[int, ...] = ()  # alert ids the channel was last told are firing
    seq: int = 0
    last_sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """A new message carrying these outbox rows, and its group's state after it."""

    notification: Notification
    rows: tuple[int, ...]
    state: GroupState


Planner = Callable[[Sequence[Delivery], Mapping[tuple[str, str], GroupState]], list[Batch]]


@dataclass(frozen=True, slots=True)
class Backlog:
    """Unsent messages of one channel, for health checks and the dashboard."""

    channel: str
    pending: int
    failing: int  # pending messages that already failed at least once
    failed: int  # messages given up on
    last_error: str | None
    oldest: datetime | None


def groups(st: Storage) -> dict[tuple[str, str], GroupState]:
    with st.connect() as conn:
        return {(r.channel, r.group_key): _state(r) for r in conn.execute(sa.select(g))}


def batch_waiting(
    st: Storage, groups: Collection[tuple[str, str]], up_to: int, plan: Planner, *,
    now: datetime,
) -> int:
    """In one transaction: lock the waiting rows of these groups (ids up to `up_to`), let
    `plan` turn them into messages, insert those, move the rows into them and save the groups'
    state. Returns how many messages were made."""
    if not groups:
        return 0
    with st.begin() as conn:
        rows = outbox.lock_waiting(conn, groups, up_to)
        states = {(s.channel, s.group_key): s for s in map(_state, conn.execute(sa.select(g)))}
        batches = plan(rows, states) if rows else []
        if not batches:
            return 0
        stmt = sa.insert(n).returning(n.c.id, sort_by_parameter_order=True)
        ids = conn.execute(stmt, [_row(b.notification, now) for b in batches]).scalars().all()
        outbox.move_into(conn, [(b.rows, nid) for b, nid in zip(batches, ids, strict=True)])
        _sql.upsert(conn, g, [_state_row(b.state) for b in batches],
                    keys=("channel", "group_key"))
    return len(batches)


def enqueue(st: Storage, notifications: Sequence[Notification], *, now: datetime) -> list[str]:
    """Insert messages that carry no alert events (the daily summary); a key already there is
    skipped, so enqueuing the same summary twice sends it once. Returns the new ones' keys."""
    new = []
    with st.begin() as conn:
        stmt = _sql.insert(conn, n).on_conflict_do_nothing(index_elements=["key"])
        for x in notifications:
            made = conn.execute(stmt.values(_row(x, now)).returning(n.c.key)).scalar()
            if made is not None:
                new.append(made)
    return new


def claim(
    st: Storage, channel: str, *, now: datetime, hold: timedelta, worker: str, limit: int = 20,
    keys: Sequence[str] | None = None,
) -> list[Notification]:
    """Take up to `limit` due messages of `channel` (or only those with these `keys`) for
    `hold` (the longest a send may take)."""
    gone = sa.select(workers.c.instance_id).where(workers.c.status.in_(GONE_WORKERS))
    stmt = (
        sa.select(n)
        .where(n.c.status == PENDING, n.c.channel == channel,
               sa.or_(n.c.next_attempt_at <= now, n.c.claimed_by.in_(gone)))
        .order_by(n.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if keys is not None:
        stmt = stmt.where(n.c.key.in_(list(keys)))
    with st.begin() as conn:
        rows = list(conn.execute(stmt))
        ids = [r.id for r in rows]
        if ids:
            conn.execute(sa.update(n).where(n.c.id.in_(ids))
                         .values(next_attempt_at=now + hold, claimed_by=worker))
    return [_from_row(r) for r in rows]


def mark_sent(st: Storage, x: Notification, *, now: datetime) -> None:
    """The channel accepted the message: it is done, and each alert's trail says so."""
    attempt = x.attempts + 1
    with st.begin() as conn:
        conn.execute(sa.update(n).where(n.c.id == x.id).values(
            status=SENT, sent_at=now, attempts=attempt, last_error=None, claimed_by=None))
        conn.execute(sa.update(o).where(o.c.notification_id == x.id)
                     .values(status=SENT, sent_at=now))
        _audit(conn, x, now, "notified", f"sent to {x.channel}", {"attempt": attempt})


def mark_failed(
    st: Storage, x: Notification, *, now: datetime, error: str, retry_at: datetime | None
) -> None:
    """The send failed: retry at `retry_at`, or give up (status failed) when it is None."""
    attempt = x.attempts + 1
    values: dict[str, Any] = {"attempts": attempt, "last_error": error[:2000], "claimed_by": None}
    values.update({"next_attempt_at": retry_at} if retry_at else {"status": FAILED})
    with st.begin() as conn:
        conn.execute(sa.update(n).where(n.c.id == x.id).values(values))
        if retry_at is None:
            conn.execute(sa.update(o).where(o.c.notification_id == x.id).values(status=FAILED))
        data = {"attempt": attempt, "retry_at": retry_at.isoformat() if retry_at else None}
        _audit(conn, x, now, "notification_failed", f"{x.channel}: {error}"[:2000], data)


def release(st: Storage, items: Sequence[Notification], *, until: datetime) -> None:
    """Hand claimed messages back unsent, due again at `until` (their channel is failing)."""
    ids = [x.id for x in items]
    with st.begin() as conn:
        for chunk in _sql.chunks(ids):
            conn.execute(sa.update(n).where(n.c.id.in_(chunk))
                         .values(next_attempt_at=until, claimed_by=None))


def resend(st: Storage, notification_id: int, *, now: datetime, ttl: timedelta,
           actor: str) -> Notification:
    """Make a given-up message pending again (same payload, same key), due now."""
    x = get(st, notification_id)
    if x.status is not NotificationStatus.FAILED:
        raise NotResendable(f"notification {notification_id} is {x.status.value}; only a "
                            "notification that was given up (failed) can be re-sent")
    with st.begin() as conn:
        conn.execute(sa.update(n).where(n.c.id == x.id, n.c.status == FAILED).values(
            status=PENDING, attempts=0, next_attempt_at=now, expires_at=now + ttl,
            claimed_by=None))
        conn.execute(sa.update(o).where(o.c.notification_id == x.id).values(status=BATCHED))
        _audit(conn, x, now, "notification_resent", f"{x.channel}: re-sent by {actor}",
               {"by": actor}, actor=actor)
    return get(st, notification_id)


def get(st: Storage, notification_id: int) -> Notification:
    with st.connect() as conn:
        row = conn.execute(sa.select(n).where(n.c.id == notification_id)).one_or_none()
    if row is None:
        raise NotFound(f"notification {notification_id} does not exist")
    return _from_row(row)


def listing(
    st: Storage, *, status: str | None = None, channel: str | None = None, limit: int = 100,
) -> list[Notification]:
    """Messages, newest first; of one status or one channel."""
    stmt = sa.select(n).order_by(n.c.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(n.c.status == NotificationStatus(status).value)
    if channel is not None:
        stmt = stmt.where(n.c.channel == channel)
    with st.connect() as conn:
        return [_from_row(r) for r in conn.execute(stmt)]


def alert_ids(st: Storage, notification_id: int) -> list[int]:
    stmt = (sa.select(o.c.alert_id).where(o.c.notification_id == notification_id)
            .distinct().order_by(o.c.alert_id))
    with st.connect() as conn:
        return list(conn.scalars(stmt))


def audit_reminder(st: Storage, channel: str, key: str, alert_ids: Sequence[int],
                   now: datetime) -> None:
    """A reminder (`repeat_interval`) went out: one "notified" event per alert it listed."""
    data = {"channel": channel, "key": key, "repeat": True}
    notes = [note_row(AlertEvent(i, now, "notified", "outbox", f"reminder sent to {channel}",
                                 data), now) for i in alert_ids]
    with st.begin() as conn:
        for chunk in _sql.chunks(notes, 5000):
            conn.execute(sa.insert(ev), list(chunk))


def save_group(st: Storage, state: GroupState) -> None:
    with st.begin() as conn:
        _sql.upsert(conn, g, [_state_row(state)], keys=("channel", "group_key"))


def forget_groups(st: Storage, states: Sequence[GroupState]) -> None:
    """Drop the state of groups whose alerts all resolved long ago (they start afresh)."""
    if not states:
        return
    with st.begin() as conn:
        for s in states:
            conn.execute(sa.delete(g).where(g.c.channel == s.channel,
                                            g.c.group_key == s.group_key, g.c.seq == s.seq))


def give_up_expired(st: Storage, channel: str, now: datetime) -> int:
    """Messages of a channel no longer configured: failed once expired."""
    stmt = (sa.update(n).where(n.c.status == PENDING, n.c.channel == channel,
                               n.c.expires_at <= now)
            .values(status=FAILED, last_error="channel no longer configured"))
    with st.begin() as conn:
        return int(conn.execute(stmt).rowcount)


def unsent_groups(st: Storage) -> set[tuple[str, str]]:
    """(channel, group) of the messages not sent yet."""
    stmt = sa.select(n.c.channel, n.c.group_key).where(n.c.status == PENDING).distinct()
    with st.connect() as conn:
        return {(ch, key) for ch, key in conn.execute(stmt)}


def pending_channels(st: Storage) -> list[str]:
    stmt = sa.select(n.c.channel).where(n.c.status == PENDING).distinct().order_by(n.c.channel)
    with st.connect() as conn:
        return list(conn.scalars(stmt))


def backlog(st: Storage) -> list[Backlog]:
    """Per channel: messages still pending, pending ones that failed before, given up ones."""
    failing = sa.case((n.c.attempts > 0, 1), else_=0)
    stmt = (
        sa.select(n.c.channel, n.c.status, sa.func.count(), sa.func.sum(failing),
                  sa.func.min(n.c.created_at), sa.func.max(n.c.last_error))
        .where(n.c.status.in_((PENDING, FAILED)))
        .group_by(n.c.channel, n.c.status)
    )
    found: dict[str, dict[str, Any]] = {}
    with st.connect() as conn:
        for channel, status, count, n_failing, oldest, error in conn.execute(stmt):
            b = found.setdefault(channel, {"pending": 0, "failing": 0, "failed": 0,
                                           "last_error": None, "oldest": None})
            if status == PENDING:
                b.update(pending=count, failing=int(n_failing or 0), oldest=_ts(oldest))
            else:
                b["failed"] = count
            b["last_error"] = b["last_error"] or error
    return [Backlog(channel=name, **b) for name, b in sorted(found.items())]


def _audit(conn: sa.Connection, x: Notification, now: datetime, event: str, message: str,
           data: dict[str, Any], *, actor: str = "outbox") -> None:
    """One event per alert the message carries (none for a summary)."""
    ids = conn.scalars(sa.select(o.c.alert_id).where(o.c.notification_id == x.id)
                       .distinct()).all()
    if not ids:
        return
    full = {"channel": x.channel, "notification_id": x.id, "key": x.key, **data}
    notes = [note_row(AlertEvent(i, now, event, actor, message, full), now) for i in ids]
    for chunk in _sql.chunks(notes, 5000):
        conn.execute(sa.insert(ev), list(chunk))


def _ts(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite aggregates lose the column type
        value = datetime.fromisoformat(value)
    return from_db(value)


def _row(x: Notification, now: datetime) -> dict[str, Any]:
    return {
        "channel": x.channel, "kind": x.kind, "key": x.key, "group_key": x.group_key,
        "status": NotificationStatus(x.status).value, "title": x.title, "text": x.text,
        "html": x.html, "payload": x.payload, "items": x.items, "attempts": x.attempts,
        "next_attempt_at": now, "claimed_by": None, "last_error": x.last_error,
        "created_at": x.created_at or now, "expires_at": x.expires_at or now,
        "sent_at": x.sent_at,
    }


def _from_row(r: Any) -> Notification:
    return Notification(
        id=r.id, channel=r.channel, kind=r.kind, key=r.key, title=r.title, text=r.text,
        payload=r.payload or {}, html=r.html, group_key=r.group_key,
        status=NotificationStatus(r.status), items=r.items, attempts=r.attempts,
        last_error=r.last_error, created_at=r.created_at, expires_at=r.expires_at,
        sent_at=r.sent_at,
    )


def _state(r: Any) -> GroupState:
    return GroupState(r.channel, r.group_key, dict(r.labels or {}),
                      tuple(int(i) for i in r.firing or ()), r.seq, r.last_sent_at)


def _state_row(s: GroupState) -> dict[str, Any]:
    return {"channel": s.channel, "group_key": s.group_key, "labels": s.labels,
            "firing": list(s.firing), "seq": s.seq, "last_sent_at": s.last_sent_at}

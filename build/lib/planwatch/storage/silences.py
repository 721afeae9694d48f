"""Silences created at run time (CLI, API); silences from the config file are not stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from planwatch.errors import NotFound
from planwatch.model.alerts import Silence
from planwatch.storage.engine import Storage
from planwatch.storage.tables import silences as s


def add(st: Storage, silence: Silence, *, now: datetime) -> Silence:
    """Store a silence (it needs both ends of its window); returns it with its id."""
    if silence.starts_at is None or silence.ends_at is None:
        raise ValueError("a stored silence needs starts_at and ends_at")
    row = {
        "matchers": dict(silence.matchers), "starts_at": silence.starts_at,
        "ends_at": silence.ends_at, "comment": silence.comment,
        "created_by": silence.created_by, "created_at": now,
    }
    with st.begin() as conn:
        new_id = conn.execute(sa.insert(s).values(row).returning(s.c.id)).scalar_one()
    return Silence(new_id, dict(silence.matchers), silence.starts_at, silence.ends_at,
                   silence.comment, silence.created_by)


def list_silences(st: Storage, *, active_at: datetime | None = None) -> list[Silence]:
    """All stored silences (newest first), or only those not yet ended at `active_at`."""
    stmt = sa.select(s).order_by(s.c.id.desc())
    if active_at is not None:
        stmt = stmt.where(s.c.ends_at > active_at)
    with st.connect() as conn:
        return [_from_row(r) for r in conn.execute(stmt)]


def expire(st: Storage, silence_id: int, *, now: datetime) -> Silence:
    """End a silence now (a silence that already ended keeps its end)."""
    with st.begin() as conn:
        row = conn.execute(sa.select(s).where(s.c.id == silence_id)).one_or_none()
        if row is None:
            raise NotFound(f"silence {silence_id} does not exist")
        if row.ends_at > now:
            conn.execute(sa.update(s).where(s.c.id == silence_id).values(ends_at=now))
            row = conn.execute(sa.select(s).where(s.c.id == silence_id)).one()
    return _from_row(row)


def _from_row(row: Any) -> Silence:
    return Silence(
        id=row.id, matchers=dict(row.matchers or {}), starts_at=row.starts_at,
        ends_at=row.ends_at, comment=row.comment, created_by=row.created_by,
    )

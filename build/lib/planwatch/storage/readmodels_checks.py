"""Check-result reads the dashboard adds to `check_results.summary`: sparkline points and
results filtered by status.

Per (check, target) the newest N evaluations come back in one statement (a window function,
on SQLite and PostgreSQL alike), so the checks page costs two queries however many checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from planwatch.storage.engine import Storage
from planwatch.storage.tables import check_results as c


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    status: str
    value: float | None


@dataclass(frozen=True, slots=True)
class ResultRow:
    id: int
    check_name: str
    target: str
    labels: dict[str, Any]
    status: str
    value: float | None
    value_text: str | None
    duration_ms: float | None
    message: str
    executed_at: datetime


def recent_points(
    st: Storage, *, since: datetime, target: str | None = None, points: int = 30
) -> dict[tuple[str, str], list[Point]]:
    """The newest `points` evaluations after `since` per (check, target), oldest first."""
    where = [c.c.executed_at > since]
    if target is not None:
        where.append(c.c.target == target)
    rn = sa.func.row_number().over(
        partition_by=(c.c.check_name, c.c.target), order_by=(c.c.executed_at.desc(), c.c.id.desc())
    )
    ranked = sa.select(c.c.check_name, c.c.target, c.c.executed_at, c.c.status, c.c.value,
                       rn.label("rn")).where(*where).subquery()
    stmt = sa.select(ranked).where(ranked.c.rn <= points).order_by(
        ranked.c.check_name, ranked.c.target, ranked.c.rn.desc()
    )
    out: dict[tuple[str, str], list[Point]] = {}
    with st.connect() as conn:
        for r in conn.execute(stmt):
            out.setdefault((r.check_name, r.target), []).append(
                Point(r.executed_at, r.status, r.value))
    return out


def results(
    st: Storage,
    *,
    check_name: str | None = None,
    target: str | None = None,
    status: str | None = None,
    not_ok: bool = False,
    limit: int = 100,
) -> list[ResultRow]:
    """The newest check results first, optionally filtered (`not_ok`: failures only)."""
    stmt = sa.select(c).order_by(c.c.executed_at.desc(), c.c.id.desc()).limit(limit)
    for column, value in ((c.c.check_name, check_name), (c.c.target, target),
                          (c.c.status, status)):
        if value is not None:
            stmt = stmt.where(column == value)
    if not_ok:
        stmt = stmt.where(c.c.status != "ok")
    with st.connect() as conn:
        return [
            ResultRow(r.id, r.check_name, r.target, r.labels or {}, r.status, r.value,
                      r.value_text, r.duration_ms, r.message, r.executed_at)
            for r in conn.execute(stmt)
        ]

"""Queries (target + database + engine-native id) with their normalized text, and top-N reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from planwatch import clock
from planwatch.model.samples import QueryRef, StatementText
from planwatch.storage import _sql
from planwatch.storage.engine import Storage
from planwatch.storage.tables import queries as q
from planwatch.storage.tables import query_samples as s

Key = tuple[str, str, str]  # (target, database, query_id)


@dataclass(frozen=True, slots=True)
class QuerySummary:
    """One query's activity in a time window, for the `queries` CLI, API and dashboard."""

    ref: QueryRef
    text: str | None
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    plan_count: int  # distinct plans seen in the window
    last_plan_hash: str | None
    first_seen: datetime
    last_seen: datetime


def key(ref: QueryRef) -> Key:
    return (ref.target, ref.database, ref.query_id)


def ref_from_row(row: Any) -> QueryRef:
    return QueryRef(row.target, row.database, row.query_id, row.fingerprint)


def upsert(st: Storage, refs: Sequence[QueryRef], seen_at: datetime) -> dict[QueryRef, int]:
    """Record that these queries were seen; returns each ref's storage id."""
    with st.begin() as conn:
        return ensure(conn, {ref: seen_at for ref in refs})


def ensure(conn: sa.Connection, seen: Mapping[QueryRef, datetime]) -> dict[QueryRef, int]:
    """Upsert query rows inside the caller's transaction (first_seen kept, last_seen raised)."""
    rows: dict[Key, dict[str, Any]] = {}
    for ref, at in seen.items():
        row = rows.setdefault(key(ref), _new_row(ref, at))
        row["last_seen"] = max(row["last_seen"], at)
        row["first_seen"] = min(row["first_seen"], at)
        row["fingerprint"] = ref.fingerprint or row["fingerprint"]
    if not rows:
        return {}
    stmt = _sql.insert(conn, q)
    stmt = stmt.on_conflict_do_update(
        index_elements=["target", "database", "query_id"],
        set_={
            "last_seen": sa.case(
                (stmt.excluded.last_seen > q.c.last_seen, stmt.excluded.last_seen),
                else_=q.c.last_seen,
            ),
            "fingerprint": sa.case(
                (stmt.excluded.fingerprint != "", stmt.excluded.fingerprint),
                else_=q.c.fingerprint,
            ),
        },
    )
    conn.execute(stmt, [rows[k] for k in sorted(rows)])  # one lock order for all writers
    # Every row just written has last_seen >= the oldest time passed in: read their ids back
    # in one indexed query instead of a RETURNING per row (much faster on both backends).
    ids = {
        (r.target, r.database, r.query_id): r.id
        for r in conn.execute(
            sa.select(q.c.id, q.c.target, q.c.database, q.c.query_id).where(
                q.c.target.in_({k[0] for k in rows}),
                q.c.last_seen >= min(r["last_seen"] for r in rows.values()),
            )
        )
    }
    return {ref: ids[key(ref)] for ref in seen}


def _new_row(ref: QueryRef, at: datetime) -> dict[str, Any]:
    return {
        "target": ref.target,
        "database": ref.database,
        "query_id": ref.query_id,
        "fingerprint": ref.fingerprint,
        "text": None,
        "first_seen": at,
        "last_seen": at,
    }


def set_texts(st: Storage, texts: Sequence[StatementText]) -> None:
    """Store normalized statement texts; unknown queries are created (seen now)."""
    latest = {key(t.ref): t for t in texts}
    if not latest:
        return
    now = clock.utcnow()
    rows = [{**_new_row(t.ref, now), "text": t.text} for _, t in sorted(latest.items())]
    with st.begin() as conn:
        stmt = _sql.insert(conn, q)
        stmt = stmt.on_conflict_do_update(
            index_elements=["target", "database", "query_id"],
            set_={"text": stmt.excluded.text},
        )
        for chunk in _sql.chunks(rows, 500):
            conn.execute(stmt, list(chunk))


def known(st: Storage, target: str) -> set[tuple[str, str]]:
    """(database, query_id) of every query stored for the target."""
    with st.connect() as conn:
        rows = conn.execute(sa.select(q.c.database, q.c.query_id).where(q.c.target == target))
        return {(r.database, r.query_id) for r in rows}


def text_of(st: Storage, ref: QueryRef) -> str | None:
    with st.connect() as conn:
        return conn.execute(sa.select(q.c.text).where(*match(ref))).scalar_one_or_none()


def match(ref: QueryRef) -> tuple[sa.ColumnElement[bool], ...]:
    """WHERE clauses selecting the queries row of `ref`."""
    return (q.c.target == ref.target, q.c.database == ref.database, q.c.query_id == ref.query_id)


def top(
    st: Storage, *, target: str | None, since: datetime, until: datetime, limit: int = 50
) -> list[QuerySummary]:
    """Queries ranked by total time in (since, until], the busiest first."""
    total = sa.func.sum(s.c.total_ms).label("total_ms")
    stmt = (
        sa.select(
            q,
            sa.func.sum(s.c.calls).label("calls"),
            total,
            sa.func.sum(s.c.rows).label("sum_rows"),
            sa.func.count(sa.distinct(s.c.plan_hash)).label("plan_count"),
        )
        .join(s, s.c.query_pk == q.c.id)
        .where(s.c.interval_end > since, s.c.interval_end <= until)
        .group_by(*q.c)
        .order_by(total.desc(), q.c.id)
        .limit(limit)
    )
    if target is not None:
        stmt = stmt.where(q.c.target == target)
    with st.connect() as conn:
        rows = conn.execute(stmt).all()
        last = _last_plans(conn, [r.id for r in rows], since, until)
    return [_summary(r, last.get(r.id)) for r in rows]


def _last_plans(
    conn: sa.Connection, ids: Iterable[int], since: datetime, until: datetime
) -> dict[int, str]:
    stmt = (
        sa.select(s.c.query_pk, s.c.plan_hash)
        .where(s.c.query_pk.in_(list(ids)), s.c.plan_hash.is_not(None))
        .where(s.c.interval_end > since, s.c.interval_end <= until)
        .order_by(s.c.interval_end)
    )
    return {r.query_pk: r.plan_hash for r in conn.execute(stmt)}


def _summary(row: Any, last_plan_hash: str | None) -> QuerySummary:
    calls = int(row.calls or 0)
    total_ms = float(row.total_ms or 0.0)
    return QuerySummary(
        ref=ref_from_row(row),
        text=row.text,
        calls=calls,
        total_ms=total_ms,
        mean_ms=total_ms / calls if calls else 0.0,
        rows=int(row.sum_rows or 0),
        plan_count=int(row.plan_count),
        last_plan_hash=last_plan_hash,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
    )

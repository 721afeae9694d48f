"""Requests for fresh plan captures: written by analysis, served by the target's collector.

Kept in storage rather than in a worker's memory, so the worker that holds a target's lease
next serves them. A request is pending until an attempt after it was made; a successful
attempt removes it, a failed one keeps its reason for the verdict ("capture failed: ...").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from planwatch.model.plans import IndexCandidate, PlanAttempt, PlanRequest
from planwatch.model.samples import QueryRef
from planwatch.storage import _sql, queries
from planwatch.storage.engine import Storage
from planwatch.storage.tables import plan_requests as r
from planwatch.storage.tables import queries as q


def request(st: Storage, requests: Sequence[PlanRequest]) -> None:
    """Ask for captures; asking again moves `requested_at` and keeps the last failure."""
    if not requests:
        return
    with st.begin() as conn:
        refs = {_ref(x): x.requested_at for x in requests}
        ids = queries.ensure(conn, refs)
        rows = {ids[_ref(x)]: _row(ids[_ref(x)], x) for x in requests}
        stmt = _sql.insert(conn, r)
        stmt = stmt.on_conflict_do_update(
            index_elements=["query_pk"],
            set_={c: stmt.excluded[c] for c in ("requested_at", "reason", "candidates")},
        )
        conn.execute(stmt, [rows[k] for k in sorted(rows)])


def pending(st: Storage, target: str, since: datetime) -> list[PlanRequest]:
    """The target's requests made after `since` and not attempted since, oldest first (an
    older request nobody renewed is no longer wanted)."""
    with st.connect() as conn:
        found = conn.execute(_PENDING, {"target_name": target, "since": since})
        return [_from_row(row) for row in found]


def for_target(st: Storage, target: str) -> dict[tuple[str, str], PlanRequest]:
    """Every request of the target (pending or failed), by (database, query_id)."""
    with st.connect() as conn:
        found = [_from_row(row) for row in conn.execute(_select().where(q.c.target == target))]
    return {(x.database, x.query_id): x for x in found}


def record(st: Storage, target: str, attempts: Sequence[PlanAttempt]) -> None:
    """Close requests a capture answered; keep the reason of those that failed."""
    asked = [a for a in attempts if a.requested]
    if not asked:
        return
    with st.begin() as conn:
        found = queries.lookup(conn, target, [(a.database, a.query_id) for a in asked])
        done = sorted(found[(a.database, a.query_id)] for a in asked
                      if a.error is None and (a.database, a.query_id) in found)
        failed = [{"pk": found[(a.database, a.query_id)], "at": a.at, "error": a.error}
                  for a in asked if a.error is not None and (a.database, a.query_id) in found]
        for chunk in _sql.chunks(done):
            conn.execute(sa.delete(r).where(r.c.query_pk.in_(list(chunk))))
        if failed:
            conn.execute(
                sa.update(r).where(r.c.query_pk == sa.bindparam("pk"))
                .values(attempted_at=sa.bindparam("at"), error=sa.bindparam("error")),
                failed,
            )


def expire(st: Storage, before: datetime) -> int:
    """Delete requests nobody renewed since `before` (retention)."""
    with st.begin() as conn:
        return int(conn.execute(sa.delete(r).where(r.c.requested_at < before)).rowcount or 0)


def _select() -> sa.Select[Any]:
    return sa.select(r, q.c.target, q.c.database, q.c.query_id).join(q, q.c.id == r.c.query_pk)


_PENDING = (  # built once: every poll asks (`_sql.bound`)
    _select()
    .where(q.c.target == sa.bindparam("target_name"), r.c.requested_at > sa.bindparam("since"))
    .where(sa.or_(r.c.attempted_at.is_(None), r.c.attempted_at < r.c.requested_at))
    .order_by(r.c.requested_at, q.c.id)
)


def _ref(x: PlanRequest) -> QueryRef:
    return QueryRef(x.target, x.database, x.query_id)


def _row(query_pk: int, x: PlanRequest) -> dict[str, Any]:
    return {
        "query_pk": query_pk,
        "requested_at": x.requested_at,
        "reason": x.reason,
        "candidates": [{"relation": c.relation, "columns": list(c.columns)}
                       for c in x.candidates] or None,
        "attempted_at": None,
        "error": None,
    }


def _from_row(row: Any) -> PlanRequest:
    candidates = tuple(IndexCandidate(c["relation"], tuple(c["columns"]))
                       for c in row.candidates or ())
    return PlanRequest(
        target=row.target, database=row.database, query_id=row.query_id,
        requested_at=row.requested_at, reason=row.reason, candidates=candidates,
        attempted_at=row.attempted_at, error=row.error,
    )

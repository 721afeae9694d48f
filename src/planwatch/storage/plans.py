"""Captured plans, one row per (query, plan hash); `captured_at` reads back as first seen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from planwatch.model.plans import PlanSighting
from planwatch.model.samples import CapturedPlan, QueryRef
from planwatch.storage import _sql, queries
from planwatch.storage.engine import Storage
from planwatch.storage.tables import plans as p
from planwatch.storage.tables import queries as q


def upsert(st: Storage, plans: Sequence[CapturedPlan]) -> None:
    """Store plans; a plan seen again only moves its last_seen (and refreshes the raw text)."""
    if not plans:
        return
    with st.begin() as conn:
        seen: dict[QueryRef, datetime] = {}
        for plan in plans:
            seen[plan.ref] = max(seen.get(plan.ref, plan.captured_at), plan.captured_at)
        ids = queries.ensure(conn, seen)
        rows: dict[tuple[int, str], dict[str, Any]] = {}
        for plan in sorted(plans, key=lambda x: x.captured_at):
            k = (ids[plan.ref], plan.plan_hash)
            first = rows[k]["first_seen"] if k in rows else plan.captured_at
            rows[k] = _row(k[0], plan) | {"first_seen": first}
        stmt = _sql.insert(conn, p)
        stmt = stmt.on_conflict_do_update(
            index_elements=["query_pk", "plan_hash"],
            set_={
                "last_seen": sa.case(
                    (stmt.excluded.last_seen > p.c.last_seen, stmt.excluded.last_seen),
                    else_=p.c.last_seen,
                ),
                "raw": stmt.excluded.raw,
                "plan_json": stmt.excluded.plan_json,
                "engine_plan_hash": stmt.excluded.engine_plan_hash,
                "context": stmt.excluded.context,
            },
        )
        conn.execute(stmt, [rows[k] for k in sorted(rows)])


def _row(query_pk: int, plan: CapturedPlan) -> dict[str, Any]:
    return {
        "query_pk": query_pk,
        "plan_hash": plan.plan_hash,
        "engine_plan_hash": plan.engine_plan_hash,
        "plan_json": plan.plan_json,
        "raw": plan.raw,
        "first_seen": plan.captured_at,
        "last_seen": plan.captured_at,
        "context": plan.context or None,
    }


def get(st: Storage, ref: QueryRef, plan_hash: str) -> CapturedPlan | None:
    stmt = _select().where(*queries.match(ref), p.c.plan_hash == plan_hash)
    with st.connect() as conn:
        row = conn.execute(stmt).one_or_none()
    return None if row is None else _from_row(row)


def for_query(st: Storage, ref: QueryRef) -> list[CapturedPlan]:
    """Every plan the query has had, oldest first."""
    stmt = _select().where(*queries.match(ref)).order_by(p.c.first_seen, p.c.id)
    with st.connect() as conn:
        return [_from_row(r) for r in conn.execute(stmt)]


def last_captured(st: Storage, target: str) -> dict[tuple[str, str], datetime]:
    """When a plan was last captured per (database, query_id), to rate-limit EXPLAINs."""
    stmt = (
        sa.select(q.c.database, q.c.query_id, sa.func.max(p.c.last_seen).label("at"))
        .join(p, p.c.query_pk == q.c.id)
        .where(q.c.target == target)
        .group_by(q.c.database, q.c.query_id)
    )
    with st.connect() as conn:
        return {(r.database, r.query_id): r.at for r in conn.execute(stmt)}


def _select() -> sa.Select[Any]:
    return sa.select(p, q.c.target, q.c.database, q.c.query_id, q.c.fingerprint).join(
        q, q.c.id == p.c.query_pk
    )


def _from_row(row: Any) -> CapturedPlan:
    return CapturedPlan(
        ref=queries.ref_from_row(row),
        plan_hash=row.plan_hash,
        plan_json=row.plan_json,
        raw=row.raw,
        captured_at=row.first_seen,
        engine_plan_hash=row.engine_plan_hash,
        context=row.context or {},
    )


def sightings(st: Storage, ref: QueryRef) -> list[PlanSighting]:
    """The query's plans with their first and latest capture, latest first."""
    stmt = (sa.select(p.c.plan_hash, p.c.first_seen, p.c.last_seen, p.c.context)
            .join(q, q.c.id == p.c.query_pk).where(*queries.match(ref))
            .order_by(p.c.last_seen.desc(), p.c.id.desc()))
    with st.connect() as conn:
        return [PlanSighting(r.plan_hash, r.first_seen, r.last_seen, r.context or {})
                for r in conn.execute(stmt)]

"""Baselines per query: all plans together (plan_hash '' in storage) and per plan."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from planwatch.model.baselines import Baseline
from planwatch.model.samples import QueryRef
from planwatch.storage import _sql, queries
from planwatch.storage.engine import Storage
from planwatch.storage.tables import baselines as b
from planwatch.storage.tables import queries as q

_ALL_PLANS = ""


def replace(st: Storage, baselines: Sequence[Baseline]) -> None:
    """Upsert baselines keyed by (query, plan); a rebuild overwrites the previous values."""
    if not baselines:
        return
    with st.begin() as conn:
        seen: dict[QueryRef, datetime] = {}
        for x in baselines:
            seen[x.ref] = max(seen.get(x.ref, x.window_end), x.window_end)
        ids = queries.ensure(conn, seen)
        rows = {(ids[x.ref], x.plan_hash or _ALL_PLANS): _row(ids[x.ref], x) for x in baselines}
        _sql.upsert(conn, b, [rows[k] for k in sorted(rows)], keys=("query_pk", "plan_hash"))


def replace_for(st: Storage, refs: Collection[QueryRef], built: Sequence[Baseline]) -> None:
    """The baselines of exactly these queries become `built` (per-plan rows of plans no
    longer seen, and the baselines of queries left out of `built`, are removed)."""
    if not refs:
        return
    with st.begin() as conn:
        targets = {r.target for r in refs}
        pks = [pk for t in sorted(targets) for pk in queries.lookup(
            conn, t, [(r.database, r.query_id) for r in refs if r.target == t]).values()]
        for chunk in _sql.chunks(sorted(pks)):
            conn.execute(sa.delete(b).where(b.c.query_pk.in_(list(chunk))))
        if built:
            seen = {x.ref: x.window_end for x in built}
            ids = queries.ensure(conn, seen)
            rows = {(ids[x.ref], x.plan_hash or _ALL_PLANS): _row(ids[x.ref], x) for x in built}
            conn.execute(sa.insert(b), [rows[k] for k in sorted(rows)])


def _row(query_pk: int, x: Baseline) -> dict[str, Any]:
    return {
        "query_pk": query_pk,
        "plan_hash": x.plan_hash or _ALL_PLANS,
        "window_start": x.window_start,
        "window_end": x.window_end,
        "n": x.n,
        "calls": x.calls,
        "median_ms": x.median_ms,
        "p95_ms": x.p95_ms,
        "mad_ms": x.mad_ms,
        "mean_ms": x.mean_ms,
        "stddev_ms": x.stddev_ms,
        "dominant_plan_hash": x.dominant_plan_hash,
        "rows_per_call": x.rows_per_call,
        "blks_per_call": x.blks_per_call,
        "temp_blks_per_call": x.temp_blks_per_call,
        "computed_at": x.computed_at,
    }


def load(st: Storage, target: str | None = None) -> dict[QueryRef, Baseline]:
    """The all-plans baseline of every query (of one target, or of all)."""
    stmt = _select().where(b.c.plan_hash == _ALL_PLANS)
    if target is not None:
        stmt = stmt.where(q.c.target == target)
    with st.connect() as conn:
        found = [_from_row(r) for r in conn.execute(stmt)]
    return {x.ref: x for x in found}


def for_query(st: Storage, ref: QueryRef) -> list[Baseline]:
    """The query's all-plans baseline first, then one per plan."""
    stmt = _select().where(*queries.match(ref)).order_by(b.c.plan_hash)
    with st.connect() as conn:
        return [_from_row(r) for r in conn.execute(stmt)]


def _select() -> sa.Select[Any]:
    return sa.select(b, q.c.target, q.c.database, q.c.query_id, q.c.fingerprint).join(
        q, q.c.id == b.c.query_pk
    )


def _from_row(row: Any) -> Baseline:
    return Baseline(
        ref=queries.ref_from_row(row),
        plan_hash=row.plan_hash or None,
        window_start=row.window_start,
        window_end=row.window_end,
        n=row.n,
        calls=row.calls,
        median_ms=row.median_ms,
        p95_ms=row.p95_ms,
        mad_ms=row.mad_ms,
        mean_ms=row.mean_ms,
        stddev_ms=row.stddev_ms,
        computed_at=row.computed_at,
        dominant_plan_hash=row.dominant_plan_hash,
        rows_per_call=row.rows_per_call,
        blks_per_call=row.blks_per_call,
        temp_blks_per_call=row.temp_blks_per_call,
    )

"""Baselines per query: all plans together (plan_hash '' in storage) and per plan."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
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
    stmt = _select(st.dialect).where(b.c.plan_hash == _ALL_PLANS)
    if target is not None:
        stmt = stmt.where(q.c.target == target)
    with st.connect() as conn:
        found = _from_rows(conn.execute(stmt))
    return {x.ref: x for x in found}


def for_query(st: Storage, ref: QueryRef) -> list[Baseline]:
    """The query's all-plans baseline first, then one per plan."""
    stmt = _select(st.dialect).where(*queries.match(ref)).order_by(b.c.plan_hash)
    with st.connect() as conn:
        return _from_rows(conn.execute(stmt))


def _select(dialect: str) -> sa.Select[Any]:
    """The columns `_from_rows` unpacks, the times raw: every analysis loads its target's
    baselines, which share a few window and computation times."""
    return sa.select(
        q.c.target, q.c.database, q.c.query_id, q.c.fingerprint, b.c.plan_hash,
        _sql.raw_time(b.c.window_start, dialect), _sql.raw_time(b.c.window_end, dialect),
        b.c.n, b.c.calls, b.c.median_ms, b.c.p95_ms, b.c.mad_ms, b.c.mean_ms, b.c.stddev_ms,
        _sql.raw_time(b.c.computed_at, dialect), b.c.dominant_plan_hash, b.c.rows_per_call,
        b.c.blks_per_call, b.c.temp_blks_per_call,
    ).join(q, q.c.id == b.c.query_pk)


def _from_rows(rows: Iterable[Any]) -> list[Baseline]:
    utc = _sql.TimesFromRaw()
    return [
        Baseline(QueryRef(target, database, query_id, fingerprint), plan_hash or None,
                 utc(start), utc(end), n, calls, median, p95, mad, mean, stddev, utc(computed),
                 dominant, rows_per_call, blks_per_call, temp_per_call)
        for (target, database, query_id, fingerprint, plan_hash, start, end, n, calls, median,
             p95, mad, mean, stddev, computed, dominant, rows_per_call, blks_per_call,
             temp_per_call) in rows
    ]

"""Queries (target + database + engine-native id) with their normalized text, and top-N reads."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
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
    """Upsert query rows inside the caller's transaction (first_seen kept, last_seen raised).

    Every collection passes thousands of known queries, so known rows are looked up by key
    and only touched where something changed: last_seen raised with one UPDATE per distinct
    time, fingerprints rewritten where a new one differs; only unknown keys are inserted.
    """
    keys = {ref: (ref.target, ref.database, ref.query_id) for ref in seen}
    last: dict[Key, datetime] = {}
    fingerprints: dict[Key, str] = {}
    for ref, at in seen.items():
        k = keys[ref]
        if k not in last or at > last[k]:
            last[k] = at
        if ref.fingerprint:
            fingerprints[k] = ref.fingerprint
    if not last:
        return {}
    found = _lookup(conn, last)
    missing = sorted(k for k in last if k not in found)  # one lock order for all writers
    if missing:
        rows = {k: _new_row(QueryRef(*k, fingerprints.get(k, "")), last[k]) for k in missing}
        for ref, at in seen.items():
            row = rows.get(keys[ref])
            if row is not None:
                row["first_seen"] = min(row["first_seen"], at)
        _insert(conn, list(rows.values()))
        found.update(_lookup(conn, missing))
        for k in missing:
            last.pop(k)
    _touch(conn, last, fingerprints, found)
    return {ref: found[k][0] for ref, k in keys.items()}


def _lookup(conn: sa.Connection, keys: Collection[Key]) -> dict[Key, tuple[int, str]]:
    """(id, fingerprint) of the stored queries among `keys`.

    Per (target, database): when the keys are most of what is stored, one indexed range
    read of all its rows (filtered here) is several times cheaper than IN lists; otherwise
    IN lists of query ids.
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for target, database, query_id in keys:
        groups.setdefault((target, database), []).append(query_id)
    found: dict[Key, tuple[int, str]] = {}
    for (target, database), ids in sorted(groups.items()):
        where = (q.c.target == target, q.c.database == database)
        stmt = sa.select(q.c.id, q.c.query_id, q.c.fingerprint).where(*where)
        stored = conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one()
        if stored <= 2 * len(ids):
            wanted = set(ids)
            rows = [r for r in conn.execute(stmt).all() if r[1] in wanted]
        else:
            rows = []
            for chunk in _sql.chunks(sorted(ids)):
                rows += conn.execute(stmt.where(q.c.query_id.in_(chunk))).all()
        for pk, query_id, fingerprint in rows:
            found[(target, database, query_id)] = (pk, fingerprint)
    return found


def _touch(
    conn: sa.Connection,
    last: Mapping[Key, datetime],
    fingerprints: Mapping[Key, str],
    found: Mapping[Key, tuple[int, str]],
) -> None:
    """Raise last_seen (never lower it) and replace changed fingerprints of known queries."""
    by_time: dict[datetime, list[int]] = {}
    for k, at in last.items():
        by_time.setdefault(at, []).append(found[k][0])
    for at, pks in sorted(by_time.items()):
        for chunk in _sql.chunks(sorted(pks)):  # ascending ids: one lock order for all writers
            conn.execute(
                sa.update(q).where(q.c.id.in_(chunk), q.c.last_seen < at).values(last_seen=at)
            )
    renamed = sorted(
        (found[k][0], fp) for k, fp in fingerprints.items() if k in last and fp != found[k][1]
    )
    if renamed:
        stmt = sa.update(q).where(q.c.id == sa.bindparam("pk"))
        conn.execute(stmt.values(fingerprint=sa.bindparam("new_fingerprint")),
                     [{"pk": pk, "new_fingerprint": fp} for pk, fp in renamed])


def _insert(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """New queries; one another writer inserted meanwhile is merged like a known one."""
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
    conn.execute(stmt, rows)  # sorted by key: one lock order for all writers


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

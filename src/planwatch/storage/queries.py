"""Queries (target + database + engine-native id) with their normalized text, and top-N reads."""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from planwatch.model.samples import QueryRef, StatementText
from planwatch.storage import _sql
from planwatch.storage.engine import Storage
from planwatch.storage.tables import UTCDateTime
from planwatch.storage.tables import baselines as b
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
    baseline_samples: int = 0  # intervals in its all-plans baseline (learning until enough)


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
    refs = list(seen)
    return dict(zip(refs, ensure_ids(conn, refs, list(seen.values())), strict=True))


def ensure_ids(
    conn: sa.Connection, refs: Sequence[QueryRef], seen_at: Sequence[datetime]
) -> list[int]:
    """`ensure` for parallel lists: the storage id of each ref, in order.

    Every collection passes thousands of known queries: their last_seen is raised and their
    ids read back by one UPDATE .. RETURNING per (target, database, time), fingerprints are
    rewritten only where a new one differs, and only unknown keys are inserted.
    """
    keys: list[Key] = [(r.target, r.database, r.query_id) for r in refs]
    with _known_lock:
        known = _known.setdefault(conn.engine, {})
    ids = _all_known(known, keys, refs, seen_at)
    if ids is not None:
        return ids
    last: dict[Key, datetime] = dict(zip(keys, seen_at, strict=True))
    if len(last) < len(keys):  # a query more than once: its latest time counts
        for k, at in zip(keys, seen_at, strict=True):
            last[k] = max(last[k], at)
    fingerprints = {k: r.fingerprint for k, r in zip(keys, refs, strict=True) if r.fingerprint}
    if not last:
        return []
    stale = {k: at for k, at in last.items()
             if (c := known.get(k)) is None or at - c[2] >= LAST_SEEN_GRAIN}
    found = {k: known[k][:2] for k in last if k not in stale}
    touched = _touch(conn, stale) if stale else {}
    for k, (pk, fp, seen) in touched.items():  # rows that existed before this transaction
        known[k] = (pk, fp, seen)
        found[k] = (pk, fp)
    renamed = sorted((found[k][0], fp) for k, fp in fingerprints.items()
                     if k in found and fp != found[k][1])
    for k in fingerprints.keys() & known.keys():
        if fingerprints[k] != known[k][1]:
            del known[k]  # re-read after the rename instead of trusting an uncommitted value
    if renamed:
        stmt = sa.update(q).where(q.c.id == sa.bindparam("pk"))
        conn.execute(stmt.values(fingerprint=sa.bindparam("new_fingerprint")),
                     [{"pk": pk, "new_fingerprint": fp} for pk, fp in renamed])
    missing = sorted(k for k in last if k not in found)  # one lock order for all writers
    if missing:
        rows = {k: _new_row(QueryRef(*k, fingerprints.get(k, "")), last[k]) for k in missing}
        for k, at in zip(keys, seen_at, strict=True):
            row = rows.get(k)
            if row is not None:
                row["first_seen"] = min(row["first_seen"], at)
        _insert(conn, list(rows.values()))
        found.update(_lookup(conn, missing))
    return [found[k][0] for k in keys]


def _all_known(
    known: Mapping[Key, tuple[int, str, datetime]], keys: Sequence[Key],
    refs: Sequence[QueryRef], seen_at: Sequence[datetime],
) -> list[int] | None:
    """The steady poll: every query stored, its last_seen fresh and its fingerprint unchanged
    — then the ids need no SQL at all. None as soon as one query needs the full path."""
    ids = []
    for k, ref, at in zip(keys, refs, seen_at, strict=True):
        c = known.get(k)
        if (c is None or at - c[2] >= LAST_SEEN_GRAIN
                or (ref.fingerprint and ref.fingerprint != c[1])):
            return None
        ids.append(c[0])
    return ids


LAST_SEEN_GRAIN = timedelta(minutes=15)
"""last_seen is exact to this: a query seen every poll is not rewritten every poll."""
_known: weakref.WeakKeyDictionary[sa.Engine, dict[Key, tuple[int, str, datetime]]] = (
    weakref.WeakKeyDictionary())
"""Per storage engine: (id, fingerprint, last_seen written) of committed query rows, which
are never deleted nor re-keyed, so the ids stay valid for the life of the process."""
_known_lock = threading.Lock()


def _touch(
    conn: sa.Connection, last: Mapping[Key, datetime]
) -> dict[Key, tuple[int, str, datetime]]:
    """Raise last_seen (never lowering it) of the stored queries among `last`; returns their
    (id, fingerprint, last_seen) — keys not in the result are not stored yet."""
    groups: dict[tuple[str, str, datetime], list[str]] = {}
    for (target, database, query_id), at in last.items():
        groups.setdefault((target, database, at), []).append(query_id)
    latest = sa.func.greatest if conn.dialect.name == "postgresql" else sa.func.max
    found: dict[Key, tuple[int, str, datetime]] = {}
    for (target, database, at), ids in sorted(groups.items()):
        stmt = (
            sa.update(q)
            .where(q.c.target == target, q.c.database == database,
                   among(conn, q.c.query_id, sorted(ids)))
            .values(last_seen=latest(q.c.last_seen, sa.literal(at, UTCDateTime)))
            .returning(q.c.id, q.c.query_id, q.c.fingerprint, q.c.last_seen)
        )
        for pk, query_id, fingerprint, seen in conn.execute(stmt):  # row by row: no 1000s of Rows
            found[(target, database, query_id)] = (pk, fingerprint, seen)
    return found


def lookup(
    conn: sa.Connection, target: str, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Storage ids of the target's stored queries among (database, query_id) `keys`."""
    found = _lookup(conn, {(target, database, query_id) for database, query_id in keys})
    return {(k[1], k[2]): pk for k, (pk, _) in found.items()}


def _lookup(conn: sa.Connection, keys: Collection[Key]) -> dict[Key, tuple[int, str]]:
    """(id, fingerprint) of the stored queries among `keys`."""
    groups: dict[tuple[str, str], list[str]] = {}
    for target, database, query_id in keys:
        groups.setdefault((target, database), []).append(query_id)
    found: dict[Key, tuple[int, str]] = {}
    for (target, database), ids in sorted(groups.items()):
        stmt = sa.select(q.c.id, q.c.query_id, q.c.fingerprint).where(
            q.c.target == target, q.c.database == database, among(conn, q.c.query_id, ids))
        for pk, query_id, fingerprint in conn.execute(stmt).all():
            found[(target, database, query_id)] = (pk, fingerprint)
    return found


def among(
    conn: sa.Connection, column: sa.Column[str], values: list[str]
) -> sa.ColumnElement[bool]:
    """`column` is one of `values`, sent as one parameter however many there are (a JSON
    array on SQLite, an array on PostgreSQL): thousands of bound parameters in IN lists cost
    more to send and to plan than the lookups themselves."""
    if conn.dialect.name == "postgresql":
        return column == sa.any_(sa.literal(values, postgresql.ARRAY(sa.String)))
    each = sa.select(sa.column("value", sa.String)).select_from(
        sa.func.json_each(json.dumps(values)))
    return column.in_(each)


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


def set_texts(st: Storage, texts: Sequence[StatementText], seen_at: datetime) -> None:
    """Store normalized statement texts; unknown queries are created (seen at `seen_at`)."""
    latest = {key(t.ref): t for t in texts}
    if not latest:
        return
    rows = [{**_new_row(t.ref, seen_at), "text": t.text} for _, t in sorted(latest.items())]
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


def first_seen(
    st: Storage, target: str, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], datetime]:
    """When each of the target's (database, query_id) `keys` was first seen."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    with st.connect() as conn:
        stmt = sa.select(q.c.database, q.c.query_id, q.c.first_seen).where(
            q.c.target == target, among(conn, q.c.query_id, [k[1] for k in wanted]))
        found = {(r.database, r.query_id): r.first_seen for r in conn.execute(stmt)}
    return {k: v for k, v in found.items() if k in set(wanted)}


def watched_since(st: Storage, target: str) -> datetime | None:
    """When planwatch first saw any query of the target."""
    with st.connect() as conn:
        value: datetime | None = conn.execute(
            sa.select(sa.func.min(q.c.first_seen)).where(q.c.target == target)).scalar()
        return value


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
            baseline_samples(q.c.id).label("baseline_n"),
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
        baseline_samples=int(row.baseline_n or 0),
    )


def baseline_samples(query_pk: Any) -> sa.ColumnElement[Any]:
    """The intervals in a query's all-plans baseline (a primary-key seek), 0 without one."""
    return sa.func.coalesce(
        sa.select(b.c.n).where(b.c.query_pk == query_pk, b.c.plan_hash == "")
        .scalar_subquery(), 0)

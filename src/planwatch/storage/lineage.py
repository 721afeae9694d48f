"""Query lineage: a query whose engine-native id changed keeps its history through its text.

PostgreSQL's queryid depends on table OIDs (a table dropped and re-created, a restore, an
upgrade give the same statement a new id); MySQL's digest changes with versions. A new query
continues an old one when both have the same non-empty fingerprint in the same target and
database and the old one has no sample after the new one was first seen (two live queries
with one text are different statements, e.g. in different schemas, and are never merged).
The new query then points at the old one (`predecessor_pk`), takes over its baselines and shows
its history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from planwatch.model.samples import QueryRef
from planwatch.storage import queries
from planwatch.storage.engine import Storage
from planwatch.storage.tables import baselines as b
from planwatch.storage.tables import queries as q
from planwatch.storage.tables import query_samples as s

MAX_HOPS = 16  # predecessors followed for history


def inherit(st: Storage, target: str, refs: Sequence[QueryRef], now: datetime) -> dict[
        QueryRef, QueryRef]:
    """Link each of `refs` (queries without a baseline) to the query it continues, if any,
    and copy that query's baselines to it; returns {new: old} for the links made."""
    wanted = [r for r in refs if r.fingerprint]
    if not wanted:
        return {}
    linked: dict[QueryRef, QueryRef] = {}
    with st.begin() as conn:
        for ref in wanted:
            found = _predecessor(conn, target, ref)
            if found is None:
                continue
            new_pk, old_pk, old_query_id = found
            conn.execute(sa.update(q).where(q.c.id == new_pk).values(predecessor_pk=old_pk))
            _copy_baselines(conn, old_pk, new_pk, now)
            linked[ref] = QueryRef(ref.target, ref.database, old_query_id, ref.fingerprint)
    return linked


def chain(conn: sa.Connection, pk: int) -> list[int]:
    """`pk` and the ids of the queries it continues, newest first."""
    out = [pk]
    for _ in range(MAX_HOPS):
        prev = conn.execute(sa.select(q.c.predecessor_pk).where(q.c.id == out[-1])).scalar()
        if prev is None or prev in out:
            break
        out.append(int(prev))
    return out


def _predecessor(conn: sa.Connection, target: str, ref: QueryRef) -> tuple[int, int, str] | None:
    new, old = q.alias("new"), q.alias("old")
    later = sa.exists().where(s.c.query_pk == old.c.id, s.c.interval_end > new.c.first_seen)
    stmt = (
        sa.select(new.c.id, old.c.id, old.c.query_id)
        .join(old, sa.and_(old.c.target == new.c.target, old.c.database == new.c.database,
                           old.c.fingerprint == new.c.fingerprint, old.c.id != new.c.id))
        .where(new.c.target == target, new.c.database == ref.database,
               new.c.query_id == ref.query_id, new.c.predecessor_pk.is_(None),
               old.c.first_seen < new.c.first_seen, ~later,
               sa.exists().where(b.c.query_pk == old.c.id))
        .order_by(old.c.last_seen.desc(), old.c.id.desc())
        .limit(1)
    )
    row = conn.execute(stmt).first()
    return (int(row[0]), int(row[1]), str(row[2])) if row else None


def _copy_baselines(conn: sa.Connection, old_pk: int, new_pk: int, now: datetime) -> None:
    rows: list[dict[str, Any]] = [
        {**row._asdict(), "query_pk": new_pk, "computed_at": now}
        for row in conn.execute(sa.select(b).where(b.c.query_pk == old_pk))
    ]
    conn.execute(sa.delete(b).where(b.c.query_pk == new_pk))
    if rows:
        conn.execute(sa.insert(b), rows)


def history_pks(st: Storage, ref: QueryRef) -> list[int]:
    """Storage ids of the query and of the queries it continues (empty when unknown)."""
    with st.connect() as conn:
        found = queries.lookup(conn, ref.target, [(ref.database, ref.query_id)])
        pk = found.get((ref.database, ref.query_id))
        return chain(conn, pk) if pk is not None else []

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

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from planwatch.model.samples import QueryRef
from planwatch.storage import _sql, queries
from planwatch.storage.engine import Storage
from planwatch.storage.tables import baselines as b
from planwatch.storage.tables import queries as q
from planwatch.storage.tables import query_samples as s

MAX_HOPS = 16  # predecessors followed for history


def inherit(st: Storage, target: str, refs: Sequence[QueryRef], now: datetime) -> dict[
        QueryRef, QueryRef]:
    """Link each of `refs` (queries without a baseline) to the query it continues, if any,
    and copy that query's baselines to it; returns {new: old} for the links made.

    One statement finds the candidates of every ref: a target's first hour has hundreds of
    queries without a baseline at each analysis, nearly all without a predecessor."""
    wanted = {(r.database, r.query_id): r for r in refs if r.fingerprint}
    if not wanted:
        return {}
    linked: dict[QueryRef, QueryRef] = {}
    with st.begin() as conn:
        for (database, query_id), (new_pk, old_pk, old_query_id) in _predecessors(
                conn, target, wanted).items():
            ref = wanted[(database, query_id)]
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


_NEW, _OLD = q.alias("new"), q.alias("old")
_LATER = sa.exists().where(s.c.query_pk == _OLD.c.id, s.c.interval_end > _NEW.c.first_seen)
# Per query without a predecessor: the older queries with its fingerprint that have a
# baseline and no sample since it appeared, most recently seen first.
_CANDIDATES = (
    sa.select(_NEW.c.database, _NEW.c.query_id, _NEW.c.id, _OLD.c.id, _OLD.c.query_id)
    .join(_OLD, sa.and_(_OLD.c.target == _NEW.c.target, _OLD.c.database == _NEW.c.database,
                        _OLD.c.fingerprint == _NEW.c.fingerprint, _OLD.c.id != _NEW.c.id))
    .where(_NEW.c.target == sa.bindparam("target"),
           _NEW.c.query_id.in_(sa.bindparam("query_ids", expanding=True)),
           _NEW.c.predecessor_pk.is_(None), _NEW.c.fingerprint != "",
           _OLD.c.first_seen < _NEW.c.first_seen, ~_LATER,
           sa.exists().where(b.c.query_pk == _OLD.c.id))
    .order_by(_NEW.c.id, _OLD.c.last_seen.desc(), _OLD.c.id.desc())
)


def _predecessors(
    conn: sa.Connection, target: str, wanted: Mapping[tuple[str, str], QueryRef],
) -> dict[tuple[str, str], tuple[int, int, str]]:
    """{(database, query_id): (its id, the id and query_id it continues)} among `wanted`."""
    found: dict[tuple[str, str], tuple[int, int, str]] = {}
    ids = sorted({query_id for _, query_id in wanted})
    for chunk in _sql.chunks(ids):  # only the wanted queries: many tenants share one text
        for database, query_id, new_pk, old_pk, old_query_id in conn.execute(
                _CANDIDATES, {"target": target, "query_ids": list(chunk)}):
            key = (database, query_id)
            if key in wanted and key not in found:
                found[key] = (int(new_pk), int(old_pk), str(old_query_id))
    return found


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

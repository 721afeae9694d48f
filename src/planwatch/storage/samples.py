"""Per-interval query samples: idempotent batch writes, window reads and columnar bulk loads."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from planwatch.model.samples import QueryRef, QuerySample, SampleColumns
from planwatch.storage import _sql, lineage, queries
from planwatch.storage.engine import Storage, json_loads
from planwatch.storage.tables import UTCDateTime, to_db
from planwatch.storage.tables import queries as q
from planwatch.storage.tables import query_samples as s

_VALUE_COLUMNS = (
    "interval_end",
    "plan_hash",
    "calls",
    "total_ms",
    "mean_ms",
    "rows",
    "blks_hit",
    "blks_read",
    "blks_temp",
    "extras",
)
_COLUMNS = ("query_pk", "interval_start", *_VALUE_COLUMNS)


def insert(st: Storage, samples: Sequence[QuerySample]) -> int:
    """Write samples in one transaction; the same (query, interval_start) again overwrites.

    Returns the number of distinct sample rows written.
    """
    if not samples:
        return 0
    with st.begin() as conn:
        return write(conn, samples)


def write(conn: sa.Connection, samples: Sequence[QuerySample]) -> int:
    """`insert` inside the caller's transaction."""
    if not samples:
        return 0
    refs = [x.ref for x in samples]
    ends = [x.interval_end for x in samples]
    seen = dict(zip(refs, ends, strict=True))
    if len(seen) == len(samples):  # the usual batch: one sample per query
        pks = queries.ensure_ids(conn, refs, ends)
    else:
        for ref, end in zip(refs, ends, strict=True):
            seen[ref] = max(seen[ref], end)
        ids = queries.ensure(conn, seen)
        pks = [ids[ref] for ref in refs]
    rows = _ordered(pks, samples)
    _upsert(conn, rows)
    return len(rows[0])


def _ordered(pks: list[int], samples: Sequence[QuerySample]) -> list[list[Any]]:
    """The rows as columns in `_COLUMNS` order, sorted by key (one lock order for all
    writers); of several samples with one key the last wins."""
    starts = [x.interval_start for x in samples]
    by_key = dict(zip(zip(pks, starts, strict=True), range(len(samples)), strict=True))
    if len(set(starts)) == 1 and len(by_key) == len(samples):
        order = sorted(range(len(samples)), key=pks.__getitem__)
    else:
        order = [by_key[k] for k in sorted(by_key)]
    xs = [samples[i] for i in order]
    return [
        [pks[i] for i in order], [starts[i] for i in order],
        [x.interval_end for x in xs], [x.plan_hash for x in xs], [x.calls for x in xs],
        [x.total_ms for x in xs], [x.mean_ms for x in xs], [x.rows for x in xs],
        [x.blks_hit for x in xs], [x.blks_read for x in xs], [x.blks_temp for x in xs],
        [x.extras or None for x in xs],
    ]


def _upsert(conn: sa.Connection, columns: list[list[Any]]) -> None:
    """INSERT .. ON CONFLICT (query_pk, interval_start) DO UPDATE for every row, in one
    executemany (a collection writes thousands of rows per poll); on PostgreSQL in one
    statement (`_upsert_json`)."""
    if conn.dialect.name == "postgresql":
        _upsert_json(conn, columns)
        return
    stmt = _sql.insert(conn, s)
    stmt = stmt.on_conflict_do_update(
        index_elements=["query_pk", "interval_start"],
        set_={c: stmt.excluded[c] for c in _VALUE_COLUMNS},
    )
    _sql.execute_columns(conn, stmt, s, dict(zip(_COLUMNS, columns, strict=True)))


def _upsert_json(conn: sa.Connection, columns: list[list[Any]]) -> None:
    """The rows as one JSON document that the server unpacks (`json_to_recordset`): one
    statement and one parameter instead of an executemany of a dozen parameters per row,
    which cost the worker more CPU than anything else in a poll. Each time is formatted
    once (a batch shares its interval times); floats keep every digit (shortest round trip,
    as `repr`). orjson: the stdlib encoder took ~0.7 ms of a 200-row poll, orjson ~0.05, and
    it writes a NaN as null where json.dumps writes `NaN`, which PostgreSQL refuses."""
    times: dict[datetime, str] = {}

    def iso(at: datetime) -> str:
        text = times.get(at)
        if text is None:
            text = times[at] = to_db(at, "postgresql").isoformat()
        return text

    pks, starts, ends, *values = columns
    rows = [dict(zip(_COLUMNS, row, strict=True)) for row in zip(
        pks, [iso(at) for at in starts], [iso(at) for at in ends], *values, strict=True)]
    payload = orjson.dumps(rows, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    conn.execute(_json_upsert(), {"rows": payload.decode()})


@functools.cache
def _json_upsert() -> postgresql.Insert:
    """INSERT .. SELECT FROM json_to_recordset(:rows) .. ON CONFLICT DO UPDATE, built once."""
    types: dict[str, Any] = {"interval_start": _sql.RAW_TIME, "interval_end": _sql.RAW_TIME,
                             "extras": postgresql.JSONB}
    found = sa.func.json_to_recordset(sa.cast(sa.bindparam("rows", type_=sa.Text),
                                              postgresql.JSON)).table_valued(
        *(sa.column(n, types.get(n, s.c[n].type)) for n in _COLUMNS)).render_derived(
        with_types=True)
    stmt = postgresql.insert(s).from_select(list(_COLUMNS),
                                            sa.select(*(found.c[n] for n in _COLUMNS)))
    return stmt.on_conflict_do_update(index_elements=["query_pk", "interval_start"],
                                      set_={c: stmt.excluded[c] for c in _VALUE_COLUMNS})


def window(st: Storage, target: str, since: datetime, until: datetime) -> list[QuerySample]:
    """The target's samples whose interval ends in (since, until], grouped by query."""
    stmt = _select(since, until, st.dialect).where(q.c.target == target)
    with st.connect() as conn:
        return _from_rows(conn, conn.execute(stmt).all())


def for_query(st: Storage, ref: QueryRef, since: datetime, until: datetime) -> list[QuerySample]:
    """One query's samples in (since, until], oldest first, including those it had under
    the native ids it had before (`lineage`), all reported under `ref`."""
    pks = lineage.history_pks(st, ref)
    if not pks:
        return []
    stmt = _select(since, until, st.dialect).where(s.c.query_pk.in_(pks))
    with st.connect() as conn:
        found = _from_rows(conn, conn.execute(stmt).all())
    found.sort(key=lambda x: x.interval_start)
    return [x if x.ref == ref else dataclasses.replace(x, ref=ref) for x in found]


def first_held_out(st: Storage, since: Mapping[QueryRef, datetime]) -> dict[QueryRef, datetime]:
    """For each query, the start of its first held-out sample at or after the given time."""
    out: dict[QueryRef, datetime] = {}
    with st.connect() as conn:
        for ref, at in since.items():
            stmt = (sa.select(sa.func.min(s.c.interval_start))
                    .join(q, q.c.id == s.c.query_pk)
                    .where(*queries.match(ref), s.c.held_out, s.c.interval_start >= at))
            first = conn.execute(stmt).scalar()
            if first is not None:
                out[ref] = first
    return out


def latest_interval_end(st: Storage, target: str) -> datetime | None:
    """End of the newest stored interval for the target (where the next collection resumes)."""
    stmt = (
        sa.select(sa.func.max(s.c.interval_end))
        .join(q, q.c.id == s.c.query_pk)
        .where(q.c.target == target)
    )
    with st.connect() as conn:
        value: datetime | None = conn.execute(stmt).scalar_one()
        return value


def _select(since: datetime, until: datetime, dialect: str) -> sa.Select[Any]:
    """The columns `_from_rows` unpacks: the times raw (converted once per distinct value),
    extras as text (most are `{}`, not worth a JSON parse each) and no query columns (the
    same ~200 refs repeated on thousands of rows: `_from_rows` reads them once per query)."""
    return (
        sa.select(s.c.query_pk, _sql.raw_time(s.c.interval_start, dialect),
                  _sql.raw_time(s.c.interval_end, dialect), s.c.calls, s.c.total_ms,
                  s.c.rows, s.c.blks_hit, s.c.blks_read, s.c.blks_temp, s.c.plan_hash,
                  sa.cast(s.c.extras, sa.Text), s.c.held_out)
        .join(q, q.c.id == s.c.query_pk)
        .where(s.c.interval_end > since, s.c.interval_end <= until)
        .order_by(s.c.query_pk, s.c.interval_start)
    )


def _from_rows(conn: sa.Connection, rows: Sequence[Any]) -> list[QuerySample]:
    """Samples of `_select` rows. An analysis reads thousands per target, which share a few
    interval times and one ref per query: each time is converted once, and each query gets
    one QueryRef object (grouping by ref then hits on identity instead of comparing)."""
    refs = _refs_by_pk(conn, {row[0] for row in rows})
    utc = _sql.TimesFromRaw()
    out = []
    for (pk, start, end, calls, total_ms, nrows, hit, read, temp, plan_hash, extras,
         held) in rows:
        out.append(QuerySample(refs[pk], utc(start), utc(end), calls, total_ms, nrows, hit, read,
                               temp, plan_hash,
                               {} if extras is None or extras == "{}" else json_loads(extras),
                               bool(held)))
    return out


def _refs_by_pk(conn: sa.Connection, pks: Collection[int]) -> dict[int, QueryRef]:
    """The QueryRef of each of these query rows."""
    out: dict[int, QueryRef] = {}
    for chunk in _sql.chunks(sorted(pks)):
        out.update(_refs(conn, q.c.id.in_(chunk)))
    return out


def hold_out(st: Storage, marks: Sequence[tuple[QueryRef, datetime]]) -> int:
    """Mark these (query, interval_start) samples abnormal: no baseline will fold them in."""
    if not marks:
        return 0
    with st.begin() as conn:
        rows = _keyed(conn, marks)
        if not rows:
            return 0
        stmt = (sa.update(s)
                .where(s.c.query_pk == sa.bindparam("pk"),
                       s.c.interval_start == sa.bindparam("start"))
                .values(held_out=True))
        conn.execute(stmt, rows)
    return len(rows)


def restart_from(st: Storage, ref: QueryRef, since: datetime) -> None:
    """The query's behaviour changed for good while it was learning: from now on only the
    samples from `since` count (earlier ones are held out, later ones are not)."""
    with st.begin() as conn:
        found = queries.lookup(conn, ref.target, [(ref.database, ref.query_id)])
        pk = found.get((ref.database, ref.query_id))
        if pk is not None:
            conn.execute(sa.update(s).where(s.c.query_pk == pk)
                         .values(held_out=s.c.interval_start < since))


def _keyed(
    conn: sa.Connection, marks: Sequence[tuple[QueryRef, datetime]]
) -> list[dict[str, Any]]:
    by_target: dict[str, set[tuple[str, str]]] = {}
    for ref, _ in marks:
        by_target.setdefault(ref.target, set()).add((ref.database, ref.query_id))
    ids = {(t, *k): pk for t, keys in by_target.items()
           for k, pk in queries.lookup(conn, t, keys).items()}
    rows = {(ids[key], start) for ref, start in marks
            if (key := (ref.target, ref.database, ref.query_id)) in ids}
    return [{"pk": pk, "start": start} for pk, start in sorted(rows)]


def columns(
    st: Storage, *, since: datetime, until: datetime, target: str | None = None,
    query_ids: Collection[str] | None = None,
) -> SampleColumns:
    """The samples in (since, until] that may enter a baseline (not held out) as numpy arrays
    grouped by query, for baseline builds; `query_ids` narrows them to some queries of the
    target (other databases' queries with the same id may come along: filter the result).

    Each column crosses the driver as one separator-joined string that numpy parses in C, so
    millions of rows load in seconds (one Python tuple per row would take ten times longer).
    `total_ms` is carried as integer microseconds.
    """
    stmt = sa.select(
        sa.func.count(),
        _sql.agg_text(s.c.query_pk, ","),
        _sql.agg_text(s.c.calls, ","),
        _sql.agg_text(sa.cast(sa.func.round(s.c.total_ms * 1000), sa.BigInteger), ","),
        _sql.agg_text(s.c.rows, ","),
        _sql.agg_text(s.c.blks_hit + s.c.blks_read, ","),
        _sql.agg_text(s.c.blks_temp, ","),
        _sql.agg_text(sa.func.coalesce(s.c.plan_hash, ""), _PLAN_SEP),
    ).where(_scanned(s.c.interval_end) > since, _scanned(s.c.interval_end) <= until,
            sa.not_(s.c.held_out))
    if target is not None:
        stmt = stmt.join_from(s, q, q.c.id == s.c.query_pk).where(q.c.target == target)
    with st.connect() as conn:
        if query_ids is not None:
            if target is None:
                raise ValueError("query_ids needs a target")
            stmt = stmt.where(queries.among(conn, q.c.query_id, sorted(query_ids)))
        n, pks, calls, micros, nrows, blks, temp, plans = conn.execute(stmt).one()
        mine = () if target is None else (q.c.target == target,)
        refs = _refs(conn, *mine) if n else {}
    if not n:
        empty = np.zeros(0, dtype=np.int64)
        return SampleColumns((), empty, empty, np.zeros(0), empty, empty, empty, [])
    pk = _ints(pks, n)
    order = np.argsort(pk, kind="stable")
    unique_pk, index = np.unique(pk[order], return_inverse=True)
    return SampleColumns(
        refs=tuple(refs[int(x)] for x in unique_pk),
        query_index=index.astype(np.int64),
        calls=_ints(calls, n)[order],
        total_ms=_ints(micros, n)[order] / 1000.0,
        rows=_ints(nrows, n)[order],
        blks=_ints(blks, n)[order],
        blks_temp=_ints(temp, n)[order],
        plan_hash=_plan_hashes(plans, order),
    )


_PLAN_SEP = "\x1f"  # ASCII unit separator: never part of a plan hash


class _scanned(FunctionElement[datetime]):
    """A column compared without its index, on SQLite (`+column`).

    A baseline window is days out of a retention of weeks: SQLite would walk the
    interval_end index and fetch millions of rows one by one in index order, 10x slower
    (measured: 27 s vs 2 s for 4 M rows) than reading each query's rows along the primary key.
    Other backends choose their plan themselves.
    """

    type = UTCDateTime()
    name = "scanned"
    inherit_cache = True


@compiles(_scanned)
def _scanned_default(element: _scanned, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(next(iter(element.clauses)), **kw)


@compiles(_scanned, "sqlite")
def _scanned_sqlite(element: _scanned, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(next(iter(element.clauses)), **kw)


def _ints(text: str, n: int) -> Any:
    values = np.fromstring(text, dtype=np.int64, sep=",")
    if len(values) != n:
        raise ValueError(f"expected {n} values, parsed {len(values)}")
    return values


_SPLIT_CHARS = 1 << 20  # plan hashes are split ~1 MB at a time


def _plan_hashes(text: str, order: Any) -> list[str | None]:
    """The separator-joined hashes as a list in `order`, every distinct hash one object.

    Split a slice at a time and reordered as a numpy object array: one `split` of millions
    of hashes, or millions of Python ints from `order.tolist()`, cost hundreds of MB at once.
    """
    interned: dict[str, str | None] = {}
    values: list[str | None] = []
    start = 0
    while True:
        end = text.find(_PLAN_SEP, start + _SPLIT_CHARS)
        piece = text[start:] if end < 0 else text[start:end]
        values += [interned.setdefault(h, h or None) for h in piece.split(_PLAN_SEP)]
        if end < 0:
            break
        start = end + 1
    column = np.empty(len(values), dtype=object)
    column[:] = values
    reordered: list[str | None] = column[order].tolist()
    return reordered


def _refs(conn: sa.Connection, *where: sa.ColumnElement[bool]) -> dict[int, QueryRef]:
    """The QueryRef of each query row that matches `where`, by its id."""
    stmt = sa.select(q.c.id, q.c.target, q.c.database, q.c.query_id, q.c.fingerprint)
    return {pk: QueryRef(*key) for pk, *key in conn.execute(stmt.where(*where))}

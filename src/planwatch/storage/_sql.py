"""Small SQL helpers shared by the aggregate modules: upserts, chunked IN lists, raw times."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.functions import FunctionElement

from planwatch.errors import StorageError
from planwatch.storage.tables import from_db

T = TypeVar("T")

IN_CHUNK = 900  # stays under every backend's bound-parameter limit


def insert(conn: sa.Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which knows ON CONFLICT (both backends share that syntax)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise StorageError(f"unsupported storage dialect {conn.dialect.name!r}")


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str] | None = None,
) -> None:
    """INSERT rows, overwriting the `update` columns (default: all non-key) on key conflicts."""
    if not rows:
        return
    stmt = insert(conn, table)
    columns = update if update is not None else [c for c in rows[0] if c not in keys]
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}
    )
    conn.execute(stmt, list(rows))


def bound(table: sa.Table, names: Sequence[str]) -> dict[str, sa.BindParameter[Any]]:
    """VALUES / SET of `names` as bind parameters (`v_<name>`, typed like the column), for a
    statement built once and executed with `params(...)`: the small writes of every poll
    then skip SQLAlchemy's statement building and literal-value handling per call (a few
    hundred µs each, several per poll)."""
    return {n: sa.bindparam(f"v_{n}", type_=table.c[n].type) for n in names}


def params(values: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of a `bound` statement for these column values."""
    return {f"v_{name}": value for name, value in values.items()}


def execute_columns(
    conn: sa.Connection, stmt: ClauseElement, table: sa.Table,
    columns: Mapping[str, Sequence[Any]],
) -> int:
    """Execute `stmt` once per row given column-wise (`columns`: name -> one value per row),
    in one driver executemany; returns the rows affected (-1 when the driver cannot tell).

    Thousands of rows through `conn.execute(stmt, [dict, ...])` cost several times the
    database's own work in SQLAlchemy's per-row, per-column parameter processing. Here the
    statement is compiled by SQLAlchemy as usual, each column type's own bind processor runs
    once per distinct value object (a batch shares its timestamps and payloads) and the rows go
    to the driver unchanged.
    """
    names = list(columns)
    compiled = cast(SQLCompiler, stmt.compile(dialect=conn.dialect, column_keys=names))
    values = {name: _bound(conn.dialect, table.c[name].type, columns[name]) for name in names}
    if compiled.positional:
        order = list(compiled.positiontup or ())
        params: list[Any] = list(zip(*(values[n] for n in order), strict=True))
    else:
        params = [dict(zip(names, row, strict=True))
                  for row in zip(*(values[n] for n in names), strict=True)]
    if not params:
        return 0
    return int(conn.exec_driver_sql(compiled.string, params).rowcount)


def _bound(dialect: sa.Dialect, col_type: Any, column: Sequence[Any]) -> Sequence[Any]:
    process = col_type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return column
    once: dict[int, Any] = {}  # by object identity: every value stays alive during the call
    out = []
    for value in column:
        key = id(value)
        if key not in once:
            once[key] = process(value)
        out.append(once[key])
    return out


RAW_TIME = sa.DateTime(timezone=True)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def raw_time(column: sa.Column[Any], dialect: str) -> sa.ColumnElement[Any]:
    """A time column as the driver gives it, or on PostgreSQL as microseconds since the
    epoch: an analysis reads ~6,000 times per target, and psycopg parsing a timestamptz cost
    ~1.2 us where an integer costs ~0.05 (`TimesFromRaw` converts each distinct value once)."""
    if dialect == "postgresql":
        return sa.cast(sa.extract("epoch", column) * sa.literal_column("1000000"), sa.BigInteger)
    return sa.type_coerce(column, RAW_TIME)


class TimesFromRaw:
    """`raw_time` values as aware UTC datetimes, each distinct value converted once (the rows
    of one read share a few interval and computation times)."""

    def __init__(self) -> None:
        self._seen: dict[int | datetime, datetime] = {}

    def __call__(self, raw: int | datetime) -> datetime:
        found = self._seen.get(raw)
        if found is None:
            found = self._seen[raw] = (_EPOCH + timedelta(microseconds=raw)
                                       if isinstance(raw, int) else from_db(raw))
        return found


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class agg_text(FunctionElement[str]):
    """Concatenate an expression over the rows of a group, as text with a separator.

    `group_concat` on SQLite, `string_agg` on PostgreSQL. Used to move millions of values in
    a handful of strings that numpy parses in C, instead of one Python tuple per row.
    """

    type = sa.Text()
    name = "agg_text"
    inherit_cache = True


@compiles(agg_text, "sqlite")
def _agg_text_sqlite(element: agg_text, compiler: SQLCompiler, **kw: Any) -> str:
    expr, sep = list(element.clauses)
    return f"group_concat({compiler.process(expr, **kw)}, {compiler.process(sep, **kw)})"


@compiles(agg_text, "postgresql")
def _agg_text_postgresql(element: agg_text, compiler: SQLCompiler, **kw: Any) -> str:
    expr, sep = list(element.clauses)
    return (
        f"string_agg(CAST({compiler.process(expr, **kw)} AS TEXT), {compiler.process(sep, **kw)})"
    )

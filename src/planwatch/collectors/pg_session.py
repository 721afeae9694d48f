"""Opening read-only sessions to a PostgreSQL target and explaining why one failed.

Every message here names host, port, database and user, and never the password — even
when the server or libpq echoes the DSN back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import conninfo, sql
from psycopg.rows import DictRow, dict_row

from planwatch.collectors import dsn, pg_columns, sqlfiles
from planwatch.config.settings import TargetSettings
from planwatch.errors import CollectorError, TargetUnreachable
from planwatch.redaction import redact

Connection = psycopg.Connection[DictRow]
_AUTH_FAILURES = (
    "password authentication failed", "authentication failed", "no password supplied",
    "no pg_hba.conf entry", "does not have login privilege",
)
_ROLE_MISSING = re.compile(r'role "[^"]*" does not exist')
_DB_MISSING = re.compile(r'database "[^"]*" does not exist')
where = dsn.libpq_where


def parse_dsn(target: TargetSettings) -> dict[str, Any]:
    """The DSN's libpq parameters; a fatal CollectorError (with no detail) when unparseable."""
    return dsn.libpq(target)


def connect(
    target: TargetSettings, params: Mapping[str, Any], dbname: str | None = None
) -> Connection:
    """A read-only autocommit session with planwatch's name and timeouts."""
    timeout_ms = int(target.command_timeout.total_seconds() * 1000)
    lock_ms = min(timeout_ms, 5000)
    options = " ".join(
        filter(None, [
            params.get("options"), "-c default_transaction_read_only=on",
            f"-c statement_timeout={timeout_ms}", f"-c lock_timeout={lock_ms}",
        ])
    )
    extra: dict[str, Any] = {
        "application_name": "planwatch",
        "connect_timeout": max(1, int(target.connect_timeout.total_seconds())),
        "options": options,
    }
    if dbname:
        extra["dbname"] = dbname
    try:
        return psycopg.connect(
            conninfo.make_conninfo(**params), autocommit=True, prepare_threshold=None,
            row_factory=dict_row, **extra,
        )
    except psycopg.OperationalError as exc:
        raise connect_error(target.name, params, exc, dbname) from None


def connect_error(
    name: str, params: Mapping[str, Any], exc: Exception, dbname: str | None = None
) -> CollectorError:
    """Classify a failed connection: bad credentials and missing databases are fatal."""
    message = redact(str(exc).strip(), params.get("password"))
    user = params.get("user") or "(default user)"
    at = where(params, dbname)
    lowered = message.lower()
    if any(marker in lowered for marker in _AUTH_FAILURES) or _ROLE_MISSING.search(message):
        reason = "role does not exist" if _ROLE_MISSING.search(message) else _flatten(message)
        return CollectorError(
            name, f"authentication failed for user {user} at {at}: {reason}", fatal=True
        )
    if _DB_MISSING.search(message):
        return CollectorError(name, f"database {at.rsplit('/', 1)[1]} does not exist at {at}",
                              fatal=True)
    return TargetUnreachable(name, f"cannot connect to {at} as {user}: {_flatten(message)}")


def _flatten(message: str) -> str:
    return " ".join(line.strip() for line in message.splitlines() if line.strip()) or "unknown"


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What one connection found out about the server, once."""

    version_num: int
    role: str
    dbname: str
    superuser: bool
    read_all_stats: bool
    max_entries: int | None
    schema: str
    has_info: bool
    columns: pg_columns.ColumnMap
    # Identity columns, then `counter_names` in this order; rendered once per session (as
    # composed SQL, psycopg would quote its ~40 identifiers again on every poll).
    statements_sql: sql.SQL
    counter_names: tuple[str, ...]  # canonical names of the statement's counter columns
    integer_counters: frozenset[str]  # canonical names of the whole-number counters


def query(name: str, /, **parts: sql.Composable) -> sql.SQL | sql.Composed:
    """A named statement of sql/postgres.sql with `{placeholders}` filled."""
    text = sql.SQL(sqlfiles.queries("postgres")[name])
    return text.format(**parts) if parts else text


def detect(conn: Connection, target: str) -> SessionFacts:
    """Version, role and the pg_stat_statements layout; fatal errors with the fix to apply."""
    facts = conn.execute(query("connection_facts")).fetchone()
    assert facts is not None
    if facts["max_entries"] is None:
        raise CollectorError(target, NOT_LOADED, fatal=True)
    schema = facts["pgss_schema"]
    if schema is None:
        raise CollectorError(target, not_created(facts["dbname"]), fatal=True)
    typed = [(r["name"], r["type"]) for r in conn.execute(
        query("pgss_columns"), {"schema": schema, "relation": "pg_stat_statements"})]
    columns = pg_columns.map_columns([n for n, _ in typed], pg_columns.non_numeric(typed))
    has_info = conn.execute(
        query("pgss_columns"), {"schema": schema, "relation": "pg_stat_statements_info"}
    ).fetchone() is not None
    decimal = frozenset(name for name, type_ in typed if type_.startswith("numeric"))
    return SessionFacts(
        version_num=facts["version_num"], role=facts["role"], dbname=facts["dbname"],
        superuser=bool(facts["superuser"]), read_all_stats=bool(facts["read_all_stats"]),
        max_entries=int(facts["max_entries"]),
        schema=schema, has_info=has_info, columns=columns,
        statements_sql=sql.SQL(_statements_sql(schema, columns, decimal).as_string(conn)),
        counter_names=tuple(columns.counters.values()),
        integer_counters=frozenset(
            columns.counters[name] for name, type_ in typed
            if name in columns.counters and type_ in INTEGER_TYPES),
    )


def _statements_sql(
    schema: str, columns: pg_columns.ColumnMap, decimal: frozenset[str] = frozenset()
) -> sql.Composed:
    """The snapshot statement. Counters arrive ready to subtract: NULL as 0 and `numeric`
    ones (wal_bytes) as float8 — the server converts them far faster than Decimal in Python."""
    counters = sql.SQL(", ").join(
        sql.SQL("COALESCE(s.{}{}, 0) AS {}").format(
            sql.Identifier(col), sql.SQL("::float8" if col in decimal else ""),
            sql.Identifier(canonical))
        for col, canonical in columns.counters.items()
    )
    composed = query(
        "statements",
        schema=sql.Identifier(schema),
        toplevel=sql.SQL("s.toplevel" if columns.has_toplevel else "true"),
        stats_since=sql.SQL("s.stats_since" if columns.has_stats_since else "NULL::timestamptz"),
        counters=counters,
    )
    assert isinstance(composed, sql.Composed)
    return composed


INTEGER_TYPES = frozenset({"bigint", "integer", "smallint"})

NOT_LOADED = (
    "pg_stat_statements is not loaded: add shared_preload_libraries = 'pg_stat_statements' "
    "to postgresql.conf and restart the server, then run CREATE EXTENSION pg_stat_statements;"
)


def not_created(dbname: str) -> str:
    return (
        f'the pg_stat_statements extension is not created in database "{dbname}": run '
        "CREATE EXTENSION pg_stat_statements; there (it also needs shared_preload_libraries = "
        "'pg_stat_statements' and a restart)"
    )

"""Opening read-only sessions to a MySQL/MariaDB target and explaining why one failed.

The DSN is a URL (`mysql://user:pw@host:3306/db`, `mariadb+pymysql://...`,
`?unix_socket=/run/mysqld/mysqld.sock`). Messages name host, port and user, never the password.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import pymysql

from planwatch.collectors import dsn, mysql_deltas, sqlfiles
from planwatch.config.settings import TargetSettings
from planwatch.errors import CollectorError, TargetUnreachable
from planwatch.redaction import redact

Connection: TypeAlias = Any  # pymysql.connections.Connection (pymysql ships no types)

TIMEOUT_GRACE_S = 5  # the client read timeout leaves the server's statement timeout room to fire

ACCESS_DENIED = 1045
COMMAND_DENIED = (1142, 1143, 1227)
UNREACHABLE = (2002, 2003, 2005, 2006, 2013, 2055)
STATEMENT_TIMEOUTS = (1969, 3024)  # MariaDB max_statement_time, MySQL max_execution_time


def parse_dsn(target: TargetSettings) -> dict[str, Any]:
    """pymysql keyword arguments from the target's URL; fatal CollectorError when unparseable."""
    return dsn.url(target, dsn.MYSQL)


where = dsn.url_where


def connect(target: TargetSettings, params: Mapping[str, Any]) -> Connection:
    """A session with planwatch's name, connect/read timeouts and no default database (so our
    own statements carry SCHEMA_NAME NULL); read-only mode is set by `prepare`."""
    connect_s = max(1, int(target.connect_timeout.total_seconds()))
    read_s = int(target.command_timeout.total_seconds()) + TIMEOUT_GRACE_S
    options = {k: v for k, v in params.items() if k != "database"}
    try:
        conn: Connection = pymysql.connect(
            **options, connect_timeout=connect_s, read_timeout=read_s, write_timeout=read_s,
            autocommit=True, program_name="planwatch", cursorclass=pymysql.cursors.DictCursor,
        )
        return conn
    except pymysql.err.MySQLError as exc:
        raise classify(target.name, params, exc, connecting=True) from None


def classify(
    name: str, params: Mapping[str, Any], exc: BaseException, *, connecting: bool = False
) -> CollectorError:
    """Bad credentials and missing privileges are fatal; network trouble is unreachable."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    message = redact(str(exc.args[1] if len(exc.args) > 1 else exc), params.get("password"))
    user = params.get("user") or "(default user)"
    at = where(params)
    if code == ACCESS_DENIED:
        return CollectorError(name, f"authentication failed for user {user} at {at}: {message}",
                              fatal=True)
    if code in COMMAND_DENIED:
        return CollectorError(name, f"user {user} lacks a privilege: {message}; "
                              f"GRANT SELECT ON performance_schema.* TO {user};", fatal=True)
    if code in UNREACHABLE or connecting or isinstance(exc, OSError):
        return TargetUnreachable(name, f"cannot reach {at} as {user}: {message}")
    if code in STATEMENT_TIMEOUTS:
        return CollectorError(name, f"statement timed out (command_timeout): {message}")
    return CollectorError(name, f"poll failed: {message}")


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What one connection found out about the server, once."""

    version: str
    mariadb: bool
    account: str
    digests_size: int | None
    thread_id: int | None
    columns: frozenset[str]  # columns of events_statements_summary_by_digest
    counter_names: tuple[str, ...]  # the COUNTERS this server has, in `packed_counters` order

    @property
    def has_sample_text(self) -> bool:
        return "QUERY_SAMPLE_TEXT" in self.columns

    @property
    def packed_counters(self) -> str:
        """The counters as `CONCAT_WS` arguments (NULL counts 0, so positions never shift)."""
        return ", ".join(f"COALESCE({c}, 0)" for c in self.counter_names)


def query(name: str) -> str:
    return sqlfiles.queries("mysql")[name]


def fetch(conn: Connection, name: str, args: Any = None, **parts: str) -> list[dict[str, Any]]:
    """Rows of a named statement; `parts` fill `{placeholders}` we built ourselves."""
    with conn.cursor() as cur:
        cur.execute(_statement(name, parts), args)
        return list(cur.fetchall())


def fetch_tuples(
    conn: Connection, name: str, args: Any = None, **parts: str
) -> list[tuple[Any, ...]]:
    """Plain-tuple rows of a named statement (large results: no dict per row)."""
    with conn.cursor(pymysql.cursors.Cursor) as cur:
        cur.execute(_statement(name, parts), args)
        return list(cur.fetchall())


def _statement(name: str, parts: Mapping[str, str]) -> str:
    text = query(name)
    for key, value in parts.items():
        text = text.replace("{" + key + "}", value)
    return text


def prepare(conn: Connection, target: TargetSettings) -> SessionFacts:
    """Check performance_schema, make the session read-only and time-bounded, learn the layout."""
    facts = fetch(conn, "server_facts")[0]
    if not int(facts["performance_schema"] or 0):
        raise CollectorError(target.name, PERFORMANCE_SCHEMA_OFF, fatal=True)
    mariadb = "mariadb" in str(facts["version"]).lower()
    timeout_s = target.command_timeout.total_seconds()
    fetch(conn, "read_only")
    if mariadb:
        fetch(conn, "timeout_mariadb", (timeout_s,))
    else:
        fetch(conn, "timeout_mysql", (int(timeout_s * 1000),))
    columns = frozenset(str(r["name"]).upper() for r in fetch(conn, "digest_columns"))
    thread = fetch(conn, "own_thread")
    counters = tuple(c for c in mysql_deltas.COUNTERS if c in columns)
    return SessionFacts(
        version=str(facts["version"]), mariadb=mariadb, account=str(facts["account"]),
        digests_size=_positive(facts["digests_size"]),
        thread_id=int(thread[0]["thread_id"]) if thread else None, columns=columns,
        counter_names=counters,
    )


def check_consumers(target: str, conn: Connection) -> dict[str, bool]:
    """Consumer states; fatal when statement digests are not being collected."""
    enabled = {str(r["name"]): r["enabled"] == "YES" for r in fetch(conn, "consumers")}
    missing = [n for n in ("global_instrumentation", "statements_digest") if not enabled.get(n)]
    if missing:
        raise CollectorError(target, consumers_off(missing), fatal=True)
    return enabled


def _positive(value: Any) -> int | None:
    return int(value) if value is not None and int(value) > 0 else None


PERFORMANCE_SCHEMA_OFF = (
    "performance_schema is OFF on this server, so there are no statement statistics: set "
    "performance_schema=ON under [mysqld] in the server's option file and restart the server "
    "(the variable is not dynamic; MariaDB has it OFF by default)"
)


def consumers_off(names: list[str]) -> str:
    listed = ", ".join(f"'{n}'" for n in names)
    persist = " ".join(f"performance-schema-consumer-{n.replace('_', '-')}=ON" for n in names)
    return (
        f"the performance_schema consumer(s) {listed} are disabled, so statement digests are not "
        f"collected: run UPDATE performance_schema.setup_consumers SET ENABLED = 'YES' WHERE NAME "
        f"IN ({listed}); and add {persist} under [mysqld] to keep it after a restart"
    )

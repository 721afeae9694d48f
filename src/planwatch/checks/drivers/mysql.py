"""MySQL and MariaDB checks with pymysql (the driver the collectors use), in threads.

Sessions are `SET SESSION TRANSACTION READ ONLY` and each run is its own
`START TRANSACTION READ ONLY` ... `ROLLBACK`. The server-side timeout is MariaDB's
`max_statement_time` (seconds, every statement) or MySQL's `max_execution_time` (ms,
SELECTs); the client cancel is `KILL QUERY <connection id>` from a second connection.
"""

from __future__ import annotations

import contextlib
import math
from concurrent.futures import Executor
from typing import Any

import pymysql

from planwatch import dsn
from planwatch.checks.drivers.base import CheckFailed, QueryFailed, TimedOut, Unreachable, flatten
from planwatch.checks.drivers.dbapi import READ_ONLY_HINT, Dialect, Session, ThreadedDriver
from planwatch.config.settings import TargetSettings
from planwatch.redaction import redact

MARIADB = Dialect("mariadb", begin=("START TRANSACTION READ ONLY",), end=("ROLLBACK",),
                  timeout_sql="SET SESSION max_statement_time = {s}")
MYSQL = Dialect("mysql", begin=("START TRANSACTION READ ONLY",), end=("ROLLBACK",),
                timeout_sql="SET SESSION max_execution_time = {ms}")

UNREACHABLE = (  # the client lost / never had the server, or the session cannot be used
    1040, 1045, 1049, 1053, 1927, 2000, 2002, 2003, 2005, 2006, 2013, 2014, 2055,
)
SERVER_TIMEOUTS = (1969, 3024)  # MariaDB max_statement_time, MySQL max_execution_time
INTERRUPTED = 1317  # KILL QUERY
READ_ONLY = (1792, 1836)  # read-only transaction / read-only server


def driver(target: TargetSettings, executor: Executor, max_idle: int) -> ThreadedDriver:
    params = _params(target)
    password = params.get("password")

    def open_session(timeout_s: float) -> Session:
        try:
            conn = pymysql.connect(
                **params, autocommit=True, program_name="planwatch-checks",
                connect_timeout=max(1, int(target.connect_timeout.total_seconds())),
                read_timeout=math.ceil(timeout_s) + 5, write_timeout=math.ceil(timeout_s) + 5,
            )
        except pymysql.err.MySQLError as exc:
            where = dsn.url_where(params)
            raise Unreachable(f"cannot connect to {where}: {_message(exc, password)}") from None
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION TRANSACTION READ ONLY")
        except BaseException:
            _close(conn)  # e.g. the read timed out: the caller never gets this session
            raise
        mariadb = "mariadb" in conn.get_server_info().lower()
        return Session(conn, MARIADB if mariadb else MYSQL, info={"id": conn.thread_id()})

    def classify(exc: BaseException, timeout_s: float) -> CheckFailed | None:
        if not isinstance(exc, pymysql.err.MySQLError):
            return Unreachable(flatten(exc)) if isinstance(exc, OSError) else None
        code = _code(exc)
        if code in SERVER_TIMEOUTS:
            return TimedOut(timeout_s, "cancelled by the server: statement time limit")
        if code == INTERRUPTED:
            return TimedOut(timeout_s, "cancelled by the client: KILL QUERY")
        if code in UNREACHABLE or code is None:
            return Unreachable(f"lost the connection: {_message(exc, password)}")
        hint = READ_ONLY_HINT if code in READ_ONLY else ""
        return QueryFailed(f"SQL error {code}: {_message(exc, password)}{hint}")

    def cancel(session: Session) -> None:
        conn = pymysql.connect(**params, connect_timeout=5, read_timeout=5, autocommit=True)
        with contextlib.closing(conn), conn.cursor() as cur:
            cur.execute(f"KILL QUERY {int(session.info['id'])}")

    def before(session: Session, timeout_s: float) -> None:
        session.conn._read_timeout = math.ceil(timeout_s) + 5  # socket backstop

    return ThreadedDriver(target.engine, open_session=open_session, classify=classify,
                          executor=executor, cancel=cancel, before=before, max_idle=max_idle)


def _params(target: TargetSettings) -> dict[str, Any]:
    try:
        return dsn.url(target.dsn.reveal(), dsn.MYSQL)
    except dsn.InvalidDsn as exc:
        raise QueryFailed(str(exc)) from None


def _code(exc: BaseException) -> int | None:
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None


def _message(exc: BaseException, password: str | None) -> str:
    text = exc.args[1] if len(exc.args) > 1 else exc
    return flatten(redact(str(text), password))


def _close(conn: Any) -> None:
    with contextlib.suppress(pymysql.err.Error):  # already closed by the server
        conn.close()

"""SQL Server checks with pymssql (the `sqlserver` extra), in threads. Not run here.

SQL Server has no read-only transaction: every run is `BEGIN TRANSACTION` ... always
`ROLLBACK`, with `XACT_ABORT ON`, so a write never survives, and a statement that reports
changed rows fails the check. `SET LOCK_TIMEOUT` bounds waiting on locks server-side; the
query timeout is pymssql's (FreeTDS sends the server an attention to stop the batch).
Tested against recorded result sets (tests/fixtures/checks/sqlserver_*.json).
"""

from __future__ import annotations

import importlib
import math
from concurrent.futures import Executor
from typing import Any

from planwatch import dsn
from planwatch.checks.drivers.base import CheckFailed, QueryFailed, TimedOut, Unreachable, flatten
from planwatch.checks.drivers.dbapi import Dialect, Session, ThreadedDriver
from planwatch.config.settings import TargetSettings
from planwatch.redaction import redact

SQLSERVER = Dialect(
    "sqlserver",
    begin=("SET XACT_ABORT ON; BEGIN TRANSACTION",),
    end=("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION",),
    timeout_sql="SET LOCK_TIMEOUT {ms}",
    guard_writes=True,
)
CONNECT_ERRORS = (20009, 20002, 20006, 20017, 20047, 18456, 4060)
TIMEOUT_ERRORS = (20003,)  # "Adaptive Server connection timed out" (the query timeout)
LOCK_TIMEOUT = 1222


def driver(target: TargetSettings, executor: Executor, max_idle: int) -> ThreadedDriver:
    try:
        params = dsn.url(target.dsn.reveal(), dsn.SQLSERVER)
    except dsn.InvalidDsn as exc:
        raise QueryFailed(str(exc)) from None
    password = params.get("password")

    def open_session(timeout_s: float) -> Session:
        pymssql = _pymssql()
        try:
            conn = pymssql.connect(
                **params, appname="planwatch-checks", autocommit=True,
                login_timeout=max(1, int(target.connect_timeout.total_seconds())),
                timeout=math.ceil(timeout_s),
            )
        except pymssql.Error as exc:
            raise Unreachable(f"cannot connect: {_message(exc, password)}") from None
        return Session(conn, SQLSERVER)

    def classify(exc: BaseException, timeout_s: float) -> CheckFailed | None:
        return classify_error(exc, timeout_s, password)

    return ThreadedDriver("sqlserver", open_session=open_session, classify=classify,
                          executor=executor, before=set_query_timeout, max_idle=max_idle)


def classify_error(exc: BaseException, timeout_s: float, password: str | None) -> CheckFailed:
    """pymssql errors carry (number, message bytes); numbers decide the kind of failure."""
    number = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    message = _message(exc, password)
    if number in TIMEOUT_ERRORS:
        return TimedOut(timeout_s, "cancelled by the client: query timeout")
    if number == LOCK_TIMEOUT:
        return TimedOut(timeout_s, "cancelled by the server: lock timeout")
    if number in CONNECT_ERRORS or type(exc).__name__ in ("InterfaceError",):
        return Unreachable(f"lost the connection: {message}")
    return QueryFailed(f"SQL error {number}: {message}" if number else f"SQL error: {message}")


def set_query_timeout(session: Session, timeout_s: float) -> None:
    """pymssql's per-connection query timeout (seconds), when the check's timeout changed."""
    low_level = getattr(session.conn, "_conn", None)
    if low_level is not None and hasattr(low_level, "query_timeout"):
        low_level.query_timeout = math.ceil(timeout_s)


def _pymssql() -> Any:
    try:
        return importlib.import_module("pymssql")
    except ImportError:
        message = "SQL Server checks need pymssql: pip install 'planwatch[sqlserver]'"
        raise QueryFailed(message) from None


def _message(exc: BaseException, password: str | None) -> str:
    text: Any = exc.args[1] if len(exc.args) > 1 else exc
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return flatten(redact(str(text), password))

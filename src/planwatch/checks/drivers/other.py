"""Checks on any other SQLAlchemy URL whose driver is installed (Oracle via oracledb, …).

SQLAlchemy only creates the DB-API connection (`NullPool`: the driver's own pool keeps
it); runs follow `dbapi.run_on` with the dialect's read-only opening where the engine has
one (Oracle: `SET TRANSACTION READ ONLY`), and otherwise a transaction that is always
rolled back and fails when the statement changed rows. Oracle's client-side cancel is
the driver's `call_timeout`; other engines get only the client giving up on the thread.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from planwatch.checks.drivers.base import CheckFailed, QueryFailed, TimedOut, Unreachable, flatten
from planwatch.checks.drivers.dbapi import READ_ONLY_HINT, Dialect, Session, ThreadedDriver
from planwatch.config.settings import TargetSettings
from planwatch.redaction import redact

ORACLE = Dialect("oracle", begin=("SET TRANSACTION READ ONLY",))
ORACLE_TIMEOUTS = ("DPY-4024", "ORA-01013", "ORA-03156")  # call timeout / user cancel
ORACLE_READ_ONLY = "ORA-01456"  # may not perform insert/delete/update in a READ ONLY txn


def dialect_for(name: str) -> Dialect:
    """The read-only protocol of a SQLAlchemy dialect name."""
    if name == "oracle":
        return ORACLE
    return Dialect(name, guard_writes=True)


def driver(target: TargetSettings, executor: Executor, max_idle: int) -> ThreadedDriver:
    try:
        url = sa.make_url(target.dsn.reveal())
        engine = sa.create_engine(url, poolclass=NullPool)
    except (sa_exc.ArgumentError, ValueError):
        raise QueryFailed("invalid DSN: not a SQLAlchemy URL") from None
    except (sa_exc.NoSuchModuleError, ImportError) as exc:
        raise QueryFailed(f"no installed driver for {url.drivername}: {flatten(exc)}") from None
    dialect, password = dialect_for(engine.dialect.name), url.password

    def open_session(timeout_s: float) -> Session:
        try:
            raw = engine.raw_connection()
        except sa_exc.DBAPIError as exc:
            raise Unreachable(f"cannot connect: {_message(exc.orig, password)}") from None
        return Session(raw, dialect)

    def classify(exc: BaseException, timeout_s: float) -> CheckFailed | None:
        dbapi = engine.dialect.dbapi
        if dbapi is None or not isinstance(exc, dbapi.Error):
            return None
        lost = engine.dialect.is_disconnect(exc, None, None)
        return classify_error(exc, timeout_s, password, disconnect=lost)

    return ThreadedDriver(engine.dialect.name, open_session=open_session, classify=classify,
                          executor=executor, before=set_call_timeout, max_idle=max_idle)


def classify_error(
    exc: BaseException, timeout_s: float, password: str | None, *, disconnect: bool
) -> CheckFailed:
    """A driver error as a check failure; `disconnect` is the dialect's own verdict."""
    message = _message(exc, password)
    if any(code in message for code in ORACLE_TIMEOUTS):
        return TimedOut(timeout_s, "cancelled by the client: call timeout")
    if disconnect:
        return Unreachable(f"lost the connection: {message}")
    hint = READ_ONLY_HINT if ORACLE_READ_ONLY in message else ""
    return QueryFailed(f"SQL error: {message}{hint}")


def set_call_timeout(session: Session, timeout_s: float) -> None:
    """oracledb/cx_Oracle stop a call on the server after `call_timeout` ms."""
    conn = getattr(session.conn, "dbapi_connection", None) or session.conn
    if hasattr(conn, "call_timeout"):
        conn.call_timeout = math.ceil(timeout_s * 1000)


def _message(exc: Any, password: str | None) -> str:
    return flatten(redact(str(exc), password))

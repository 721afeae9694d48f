"""SQLite checks with the standard library's sqlite3, in threads.

The file is opened read-only (`mode=ro`) with `PRAGMA query_only`, so a write fails
before it touches anything. SQLite runs in-process, so its "server-side" timeout is a
progress handler that aborts the statement at the deadline; the client cancel is
`Connection.interrupt()`.
"""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import Executor
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from planwatch.checks.drivers.base import CheckFailed, QueryFailed, TimedOut, Unreachable, flatten
from planwatch.checks.drivers.dbapi import READ_ONLY_HINT, Dialect, Session, ThreadedDriver
from planwatch.config.settings import TargetSettings

SQLITE = Dialect("sqlite", begin=("BEGIN",), end=("ROLLBACK",))
PROGRESS_OPS = 10_000  # virtual machine steps between deadline checks


def path_of(dsn: str) -> Path:
    """The database file of `sqlite:///path` (SQLAlchemy URL) or of a plain path."""
    if "://" not in dsn:
        return Path(dsn)
    try:
        database = make_url(dsn).database
    except (ArgumentError, ValueError):
        database = None
    if not database or database == ":memory:":
        raise QueryFailed("invalid DSN: expected sqlite:///path/to/file.db")
    return Path(database)


def driver(target: TargetSettings, executor: Executor, max_idle: int) -> ThreadedDriver:
    path = path_of(target.dsn.reveal())

    def open_session(timeout_s: float) -> Session:
        if not path.exists():
            raise Unreachable(f"database file {path} does not exist")
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=timeout_s, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise Unreachable(f"cannot open {path}: {flatten(exc)}") from None
        try:
            conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            conn.close()
            raise Unreachable(f"cannot open {path}: {flatten(exc)}") from None
        return Session(conn, SQLITE, info={"deadline": 0.0})

    def before(session: Session, timeout_s: float) -> None:
        session.info["deadline"] = time.monotonic() + timeout_s
        info = session.info
        session.conn.set_progress_handler(lambda: time.monotonic() > info["deadline"],
                                          PROGRESS_OPS)

    def classify(exc: BaseException, timeout_s: float) -> CheckFailed | None:
        if not isinstance(exc, sqlite3.Error):
            return None
        text = flatten(exc)
        if "interrupted" in text:
            return TimedOut(timeout_s, "aborted at the deadline")
        if "unable to open" in text or "disk I/O error" in text:
            return Unreachable(f"cannot read {path}: {text}")
        hint = READ_ONLY_HINT if "readonly" in text or "read-only" in text else ""
        return QueryFailed(f"SQL error: {text}{hint}")

    def cancel(session: Session) -> None:
        session.conn.interrupt()

    return ThreadedDriver("sqlite", open_session=open_session, classify=classify,
                          executor=executor, cancel=cancel, before=before, max_idle=max_idle)

"""The only code that talks to SQL Server: run a named statement of `sql/sqlserver.sql`.

Everything else in the SQL Server collector works on the `list[dict]` this returns, so it can
be tested against recorded result sets. The driver (pymssql, the `sqlserver` extra) is imported
on first connect. Driver errors become `SourceError` with the server's error number.
The DSN is a URL: `mssql://user:password@host:1433/database` (`sqlserver://`, `mssql+pymssql://`).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Mapping
from typing import Any, Protocol

from planwatch.collectors import dsn, sqlfiles
from planwatch.config.settings import TargetSettings
from planwatch.errors import CollectorError, TargetUnreachable
from planwatch.redaction import redact

Row = dict[str, Any]
DRIVER_MISSING = -1  # SourceError.number when pymssql is not installed


class SourceError(Exception):
    """A statement or connection failed; `number` is SQL Server's error number when known."""

    def __init__(self, number: int | None, message: str, *, connecting: bool = False) -> None:
        self.number = number
        self.connecting = connecting
        super().__init__(message)


class Source(Protocol):
    def fetch(
        self, name: str, params: Mapping[str, Any] | None = None, *,
        database: str | None = None, parts: Mapping[str, str] | None = None,
    ) -> list[Row]:
        """Rows of statement `name` run in `database`; `parts` fill `{placeholders}`."""
        ...

    def close(self) -> None: ...


def parse_dsn(target: TargetSettings) -> dict[str, Any]:
    """pymssql keyword arguments from the target's URL; fatal CollectorError when unparseable."""
    return dsn.url(target, dsn.SQLSERVER)


def quote_name(name: str) -> str:
    """A bracket-quoted identifier (`]` doubled), safe to splice into USE."""
    return "[" + name.replace("]", "]]") + "]"


class PymssqlSource:
    """One lazily opened pymssql connection; re-opened after a connection failure."""

    def __init__(self, target: TargetSettings, params: Mapping[str, Any]) -> None:
        self._target = target
        self._params = dict(params)
        self._conn: Any = None
        self._database: str | None = None

    def fetch(
        self, name: str, params: Mapping[str, Any] | None = None, *,
        database: str | None = None, parts: Mapping[str, str] | None = None,
    ) -> list[Row]:
        conn = self._connect()
        driver = _driver()
        try:
            cursor = conn.cursor(as_dict=True)
            if database and database != self._database:
                cursor.execute(_text("use_database", {"database": quote_name(database)}))
                self._database = database
            cursor.execute(_text(name, parts), dict(params) if params else None)
            rows = list(cursor.fetchall()) if cursor.description else []
            cursor.close()
            return rows
        except driver.Error as exc:
            if isinstance(exc, driver.OperationalError) and not self._alive():
                self.close()
            raise self._error(exc) from None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail
                self._conn.close()
        self._conn, self._database = None, None

    def _connect(self) -> Any:
        if self._conn is not None:
            return self._conn
        driver = _driver()
        timeout = max(1, int(self._target.command_timeout.total_seconds()))
        login_timeout = max(1, int(self._target.connect_timeout.total_seconds()))
        try:
            conn = driver.connect(**self._params, appname="planwatch", timeout=timeout,
                                  login_timeout=login_timeout, autocommit=True)
        except driver.Error as exc:
            raise self._error(exc, connecting=True) from None
        conn.cursor().execute(_text("session_options"))
        self._conn, self._database = conn, self._params.get("database")
        return conn

    def _alive(self) -> bool:
        try:
            self._conn.cursor().execute("SELECT 1")
            return True
        except Exception:  # any failure means the connection is gone
            return False

    def _error(self, exc: BaseException, *, connecting: bool = False) -> SourceError:
        return driver_error(exc, self._params.get("password"), connecting=connecting)


def driver_error(
    exc: BaseException, password: str | None, *, connecting: bool = False
) -> SourceError:
    """A pymssql error as SourceError. pymssql raises statement errors as `Error(number,
    message)` but connection errors as `Error((number, message))`; messages are bytes."""
    args = exc.args
    if len(args) == 1 and isinstance(args[0], tuple):
        args = args[0]
    number = args[0] if args and isinstance(args[0], int) else None
    raw = args[1] if len(args) > 1 else exc
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    message = " ".join(redact(text, password).split())
    return SourceError(number, message, connecting=connecting)


def _driver() -> Any:
    try:
        return importlib.import_module("pymssql")
    except ImportError:
        raise SourceError(DRIVER_MISSING, "the pymssql driver is not installed: "
                          "pip install 'planwatch[sqlserver]'") from None


def _text(name: str, parts: Mapping[str, str] | None = None) -> str:
    text = sqlfiles.queries("sqlserver")[name]
    for key, value in (parts or {}).items():
        text = text.replace("{" + key + "}", value)
    return text


LOGIN_FAILED = 18456
CANNOT_OPEN_DATABASE = 4060
INVALID_OBJECT = 208
PERMISSION_DENIED = (229, 230, 262, 297, 300)


def is_permission_error(exc: SourceError) -> bool:
    return exc.number in PERMISSION_DENIED or "permission" in str(exc).lower()


def classify(name: str, params: Mapping[str, Any], exc: SourceError) -> CollectorError:
    """Bad login, missing database or driver are fatal; a lost connection is unreachable."""
    user = params.get("user") or "(integrated login)"
    at = f"{params.get('server')}:{params.get('port')}"
    if exc.number == DRIVER_MISSING:
        return CollectorError(name, str(exc), fatal=True)
    if exc.number == LOGIN_FAILED:
        return CollectorError(name, f"login failed for user {user} at {at}: {exc}", fatal=True)
    if exc.number == CANNOT_OPEN_DATABASE:
        return CollectorError(name, f"cannot open the database at {at}: {exc}", fatal=True)
    if is_permission_error(exc):
        return CollectorError(name, f"permission denied for {user}: {exc}", fatal=True)
    if exc.connecting or (exc.number is not None and 20000 <= exc.number < 20100):
        return TargetUnreachable(name, f"cannot reach {at} as {user}: {exc}")  # DB-Lib errors
    return CollectorError(name, f"poll failed: {exc}")


def query_store_denied(database: str, user: str) -> str:
    return (
        f"cannot read Query Store in database {database}: user {user} lacks VIEW DATABASE STATE. "
        f"Run USE {quote_name(database)}; GRANT VIEW DATABASE STATE TO {quote_name(user)}; "
        "(SQL Server 2022+: VIEW DATABASE PERFORMANCE STATE is enough)"
    )


def dmv_denied(databases: list[str], user: str) -> str:
    listed = ", ".join(databases)
    return (
        f"Query Store is off in {listed} and the plan cache fallback "
        f"(sys.dm_exec_query_stats) needs VIEW SERVER STATE, which {user} lacks: run "
        f"GRANT VIEW SERVER STATE TO {quote_name(user)}; (SQL Server 2022+: VIEW SERVER "
        "PERFORMANCE STATE), or turn Query Store on: ALTER DATABASE <db> SET QUERY_STORE = ON "
        "(OPERATION_MODE = READ_WRITE);"
    )

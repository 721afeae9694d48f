"""PostgreSQL checks on psycopg 3 async connections, a few kept open per target.

Sessions start with `default_transaction_read_only=on`, so every statement (autocommit:
its own transaction) runs read-only, and with `statement_timeout` set to the check's
timeout (changed with one SET only when a check with another timeout uses the session).
Statements are sent as server-side prepared statements: one statement per check (no
`...; DELETE ...` piggy-backing) and no re-parsing on every run. The client gives up one
second after the server should have, cancels the query and drops the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import conninfo

from planwatch import dsn
from planwatch.checks.drivers.base import CLIENT_GRACE_S, QueryFailed, TimedOut, Unreachable
from planwatch.checks.evaluation import RawResult
from planwatch.config.settings import TargetSettings
from planwatch.redaction import redact

READ_ONLY = "25006"  # read_only_sql_transaction
CANCELED = "57014"  # query_canceled (statement_timeout or a cancel request)
PREPARED_MAX = 1000


@dataclass(eq=False, slots=True)
class _Session:
    conn: psycopg.AsyncConnection[Any]
    timeout_ms: int  # the session's current statement_timeout


class PgDriver:
    engine = "postgresql"

    def __init__(self, target: TargetSettings, *, max_idle: int = 5) -> None:
        self._target = target
        self._params = parse(target)
        self._max_idle = max_idle
        self._idle: list[_Session] = []

    async def run(self, sql: str, timeout_s: float) -> RawResult:
        session = self._idle.pop() if self._idle else await self._connect(timeout_s)
        keep = False
        try:
            result = await self._execute(session, sql, timeout_s)
            keep = _still_read_only(session.conn) and bool(result.columns)
            return result
        except QueryFailed:
            keep = not session.conn.broken
            raise
        except Unreachable:
            await self.aclose()  # the server went away: the idle sessions are dead too
            raise
        finally:
            self._release(session, keep)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for session in idle:
            with contextlib.suppress(Exception):
                await session.conn.close()

    async def _connect(self, timeout_s: float) -> _Session:
        ms = _ms(timeout_s)
        options = " ".join(filter(None, [
            self._params.get("options"), "-c default_transaction_read_only=on",
            f"-c statement_timeout={ms}",
        ]))
        try:
            conn = await psycopg.AsyncConnection.connect(
                conninfo.make_conninfo(**self._params), autocommit=True, options=options,
                application_name="planwatch-checks",
                connect_timeout=max(1, int(self._target.connect_timeout.total_seconds())),
            )
        except psycopg.Error as exc:
            raise Unreachable(self._describe(exc, "cannot connect to")) from None
        conn.prepared_max = PREPARED_MAX
        return _Session(conn, ms)

    async def _execute(self, session: _Session, sql: str, timeout_s: float) -> RawResult:
        conn, ms = session.conn, _ms(timeout_s)
        try:
            async with asyncio.timeout(timeout_s + CLIENT_GRACE_S):
                if session.timeout_ms != ms:
                    await conn.execute(f"SET statement_timeout = {ms}")
                    session.timeout_ms = ms
                cur = await conn.execute(sql, prepare=True)
                rows = await cur.fetchall() if cur.description else []
        except TimeoutError:
            await _cancel(conn)
            how = "cancelled by the client: no answer from the server"
            raise TimedOut(timeout_s, how) from None
        except psycopg.Error as exc:
            raise self._classify(conn, exc, timeout_s) from None
        columns = tuple(d.name for d in cur.description or ())
        return RawResult(columns, rows, cur.rowcount)

    def _classify(
        self, conn: psycopg.AsyncConnection[Any], exc: psycopg.Error, timeout_s: float
    ) -> Exception:
        if exc.sqlstate == CANCELED:
            return TimedOut(timeout_s, "cancelled by the server: statement_timeout")
        if conn.broken or conn.closed or (exc.sqlstate or "").startswith("08"):
            return Unreachable(self._describe(exc, "lost the connection to"))
        message = self._describe(exc)
        if exc.sqlstate == READ_ONLY:
            message += " (checks run in read-only transactions and must not write)"
        return QueryFailed(message)

    def _release(self, session: _Session, keep: bool) -> None:
        if keep and not session.conn.closed and len(self._idle) < self._max_idle:
            self._idle.append(session)
            return
        if not session.conn.closed:
            # the close of an idle session is a local socket close; no need to await a task
            task = asyncio.ensure_future(session.conn.close())
            task.add_done_callback(_ignore)

    def _describe(self, exc: BaseException, prefix: str | None = None) -> str:
        text = " ".join(str(exc).split()) or type(exc).__name__
        text = redact(text, self._params.get("password"))
        if prefix is None:
            state = getattr(exc, "sqlstate", None)
            return f"SQL error {state}: {text}" if state else f"SQL error: {text}"
        return f"{prefix} {dsn.libpq_where(self._params)}: {text}"


def parse(target: TargetSettings) -> dict[str, Any]:
    """libpq parameters of the target's DSN (URL with an optional `+driver`, or key=value)."""
    try:
        return dsn.libpq(target.dsn.reveal())
    except dsn.InvalidDsn as exc:
        raise QueryFailed(str(exc)) from None


def _still_read_only(conn: psycopg.AsyncConnection[Any]) -> bool:
    """False when a statement switched the session's read-only default off (PG 14+ report
    it); such a session is dropped instead of being handed to the next check."""
    return conn.info.parameter_status("default_transaction_read_only") != "off"


async def _cancel(conn: psycopg.AsyncConnection[Any]) -> None:
    with contextlib.suppress(Exception):
        await conn.cancel_safe(timeout=2.0)
    with contextlib.suppress(Exception):
        await conn.close()


def _ms(timeout_s: float) -> int:
    return max(1, int(timeout_s * 1000))


def _ignore(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()

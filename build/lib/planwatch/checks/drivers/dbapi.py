"""Checks on blocking DB-API drivers (pymysql, sqlite3, pymssql, SQLAlchemy dialects).

They run in the check runner's own thread pool. `run_on` is the whole protocol of one run —
open a read-only transaction (per the engine's `Dialect`), run the statement, always roll
back — written against plain DB-API so that engines which cannot run here (SQL Server,
Oracle) are tested by replaying recorded result sets through it. `ThreadedDriver` adds the
per-target pool, the client-side cancel and error classification.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from planwatch.checks.drivers.base import CLIENT_GRACE_S, CheckFailed, QueryFailed, TimedOut
from planwatch.checks.evaluation import RawResult

READ_ONLY_HINT = " (checks run in read-only transactions and must not write)"


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one engine opens a read-only transaction, bounds a statement and ends it."""

    name: str
    begin: tuple[str, ...] = ()  # statements that open the read-only transaction
    end: tuple[str, ...] = ()  # statements that end it; empty: connection.rollback()
    timeout_sql: str | None = None  # session timeout, formatted with ms= and s=
    guard_writes: bool = False  # no read-only transactions: a statement that changed rows fails

    def opening(self, timeout_ms: int, current_ms: int | None) -> list[str]:
        """The statements before the check's own: the timeout (only when it changes), begin."""
        setting = []
        if self.timeout_sql is not None and current_ms != timeout_ms:
            setting.append(self.timeout_sql.format(ms=timeout_ms, s=f"{timeout_ms / 1000:g}"))
        return [*setting, *self.begin]


@dataclass(eq=False, slots=True)
class Session:
    """One pooled connection with what the driver remembers about it."""

    conn: Any
    dialect: Dialect
    timeout_ms: int | None = None
    info: dict[str, Any] = field(default_factory=dict)


class WriteAttempt(QueryFailed):
    """The statement changed rows on an engine without read-only transactions."""

    def __init__(self, rows: int) -> None:
        super().__init__(f"the statement changed {rows} row(s); the change was rolled back"
                         + READ_ONLY_HINT)


def run_on(session: Session, sql: str, timeout_ms: int) -> RawResult:
    """Run `sql` once on `session` read-only and return what it read; always rolls back."""
    dialect = session.dialect
    cur = session.conn.cursor()
    try:
        for statement in dialect.opening(timeout_ms, session.timeout_ms):
            cur.execute(statement)
        session.timeout_ms = timeout_ms
        cur.execute(sql)
        columns = tuple(str(d[0]) for d in cur.description) if cur.description else ()
        rows = [tuple(r) for r in cur.fetchall()] if columns else []
        rowcount = int(cur.rowcount if cur.rowcount is not None else -1)
        if dialect.guard_writes and not columns and rowcount > 0:
            raise WriteAttempt(rowcount)
        return RawResult(columns, rows, rowcount)
    finally:
        try:
            _end(session, cur)
        finally:
            with contextlib.suppress(Exception):
                cur.close()


def _end(session: Session, cur: Any) -> None:
    if not session.dialect.end:
        session.conn.rollback()
        return
    for statement in session.dialect.end:
        cur.execute(statement)


@dataclass(eq=False, slots=True)
class _Call:
    session: Session | None = None
    abandoned: bool = False  # the client gave up: drop the session when the thread returns


class ThreadedDriver:
    """A pool of blocking sessions for one target, used from the event loop."""

    def __init__(
        self,
        engine: str,
        *,
        open_session: Callable[[float], Session],
        classify: Callable[[BaseException, float], CheckFailed | None],
        executor: Executor,
        cancel: Callable[[Session], None] | None = None,
        before: Callable[[Session, float], None] | None = None,
        max_idle: int = 5,
    ) -> None:
        self.engine = engine
        self._open = open_session
        self._classify = classify
        self._executor = executor
        self._cancel = cancel
        self._before = before
        self._max_idle = max_idle
        self._idle: collections.deque[Session] = collections.deque()

    async def run(self, sql: str, timeout_s: float) -> RawResult:
        call = _Call()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._run_sync, call, sql, timeout_s)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s + CLIENT_GRACE_S)
        except TimeoutError:
            call.abandoned = True
            future.add_done_callback(_consume)
            if call.session is not None and self._cancel is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._cancel, call.session)
            raise TimedOut(timeout_s, "cancelled by the client: no answer in time") from None

    async def aclose(self) -> None:
        while self._idle:
            _close(self._idle.popleft())

    def _run_sync(self, call: _Call, sql: str, timeout_s: float) -> RawResult:
        session = self._take() or self._connect(timeout_s)
        call.session = session
        keep = False
        try:
            if self._before is not None:
                self._before(session, timeout_s)
            result = run_on(session, sql, max(1, math.ceil(timeout_s * 1000)))
            keep = True
            return result
        except CheckFailed:
            keep = True
            raise
        except Exception as exc:
            failure = self._classify(exc, timeout_s)
            if failure is None:
                raise
            keep = isinstance(failure, QueryFailed)
            if not keep:  # the server went away: the idle sessions are dead too
                while self._idle:
                    _close(self._idle.popleft())
            raise failure from None
        finally:
            if keep and not call.abandoned and len(self._idle) < self._max_idle:
                self._idle.append(session)
            else:
                _close(session)

    def _take(self) -> Session | None:
        try:
            return self._idle.pop()
        except IndexError:
            return None

    def _connect(self, timeout_s: float) -> Session:
        try:
            return self._open(timeout_s)
        except CheckFailed:
            raise
        except Exception as exc:
            failure = self._classify(exc, timeout_s)
            raise (failure or QueryFailed(str(exc))) from None


def _close(session: Session) -> None:
    with contextlib.suppress(Exception):
        session.conn.close()


def _consume(future: asyncio.Future[RawResult]) -> None:
    if not future.cancelled():
        future.exception()

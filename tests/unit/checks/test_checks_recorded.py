"""SQL Server and Oracle checks, replayed from recorded result sets (they cannot run here).

Each case pins down every statement sent (read-only opening, timeout, the check, the
rollback) and what the driver answered, and checks the results or the classified error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from planwatch.checks.drivers import other, sqlserver
from planwatch.checks.drivers.base import CheckFailed
from planwatch.checks.drivers.dbapi import Dialect, Session, run_on
from planwatch.checks.evaluation import Judgement, Shape, evaluate
from planwatch.config.settings import CheckSettings
from shared_fixtures import LOCAL_FIXTURES

FILES = LOCAL_FIXTURES / "checks"


class Error(Exception):
    disconnect = False


class OperationalError(Error): ...


class ProgrammingError(Error): ...


class DatabaseError(Error): ...


ERRORS = {c.__name__: c for c in (OperationalError, ProgrammingError, DatabaseError)}


class Replay:
    """A DB-API connection that answers from a recording and refuses anything unrecorded."""

    def __init__(self, statements: list[dict[str, Any]]) -> None:
        self.script = list(statements)
        self.current: dict[str, Any] = {}

    def _next(self, sql: str) -> dict[str, Any]:
        assert self.script, f"unrecorded statement: {sql!r}"
        step = self.script.pop(0)
        assert step["sql"] == sql
        if "error" in step:
            e = step["error"]
            exc = ERRORS[e["type"]](*[_typed(a) for a in e["args"]])
            exc.disconnect = e.get("disconnect", False)
            raise exc
        return step

    def cursor(self) -> Replay:
        return self

    def execute(self, sql: str) -> None:
        self.current = self._next(sql)

    @property
    def description(self) -> list[tuple[Any, ...]] | None:
        d = self.current.get("description")
        return [tuple(c) for c in d] if d else None

    @property
    def rowcount(self) -> int:
        return int(self.current.get("rowcount", -1))

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.current.get("rows", [])]

    def rollback(self) -> None:
        self._next("<rollback>")

    def close(self) -> None: ...


def _typed(value: Any) -> Any:
    return value["$bytes"].encode() if isinstance(value, dict) else value


def _cases(name: str) -> list[Any]:
    cases = json.loads((FILES / name).read_text())["cases"]
    return [pytest.param(c, id=c["name"]) for c in cases]


def _classify_mssql(exc: Exception, timeout_s: float) -> CheckFailed:
    return sqlserver.classify_error(exc, timeout_s, None)


def _classify_oracle(exc: Exception, timeout_s: float) -> CheckFailed:
    return other.classify_error(exc, timeout_s, None, disconnect=getattr(exc, "disconnect", False))


def _replay(case: dict[str, Any], dialect: Dialect,
            classify: Callable[[Exception, float], CheckFailed]) -> None:
    check = CheckSettings(name="c", targets=("t",), **case["check"])
    conn = Replay(case["statements"])
    session = Session(conn, dialect, timeout_ms=case.get("session_timeout_ms"))
    expect = case["expect"]
    try:
        raw = run_on(session, check.sql, case["timeout_ms"])
    except Exception as exc:
        failure = exc if isinstance(exc, CheckFailed) else classify(exc, case["timeout_ms"] / 1000)
        assert (type(failure).__name__, str(failure)) == (
            expect["error"]["kind"], expect["error"]["message"])
    else:
        assert "results" in expect, f"expected {expect}, got {raw}"
        found = evaluate(Shape.of(check), Judgement.of(check), raw, 1.0)
        assert [[e.status.value, e.value, dict(e.labels)] for e in found] == expect["results"]
    assert conn.script == [], "recorded statements were not sent"


@pytest.mark.parametrize("case", _cases("sqlserver_checks.json"))
def test_sqlserver_recorded(case: dict[str, Any]) -> None:
    _replay(case, sqlserver.SQLSERVER, _classify_mssql)


@pytest.mark.parametrize("case", _cases("oracle_checks.json"))
def test_oracle_recorded(case: dict[str, Any]) -> None:
    _replay(case, other.ORACLE, _classify_oracle)


def test_generic_dialects_guard_writes_and_oracle_opens_read_only() -> None:
    assert other.dialect_for("oracle").begin == ("SET TRANSACTION READ ONLY",)
    generic = other.dialect_for("snowflake")
    assert generic.guard_writes and generic.begin == () and generic.end == ()


def test_sqlserver_query_timeout_follows_the_check() -> None:
    class LowLevel:
        query_timeout = 30

    class Conn:
        _conn = LowLevel()

    session = Session(Conn(), sqlserver.SQLSERVER)
    sqlserver.set_query_timeout(session, 2.5)
    assert Conn._conn.query_timeout == 3

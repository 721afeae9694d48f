"""SQL checks on SQLite files: results, read-only, the deadline, a missing file."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from checks_support import MakeRunner, check, settings

from planwatch.model.checks import CheckStatus

pytestmark = pytest.mark.integration

OK, WARN, CRIT, ERR = (CheckStatus.OK, CheckStatus.WARNING, CheckStatus.CRITICAL,
                       CheckStatus.ERROR)


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, region TEXT, status TEXT)")
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?)",
                         [(i, ("eu", "us", "ap")[i % 3], "failed" if i % 5 == 0 else "ok")
                          for i in range(1, 31)])
    conn.close()
    return f"sqlite:///{path}"


async def test_every_result_type_and_dataset(db: str, make_runner: MakeRunner) -> None:
    s = settings(db, "sqlite",
                 check("scalar", "SELECT count(*) FROM orders", warning="> 10",
                       critical="> 100"),
                 check("rowcount", "SELECT id FROM orders WHERE status = 'failed'",
                       result="rowcount", operator="gte", expected=6),
                 check("text", "SELECT 'all good'", operator="contains", expected="good"),
                 check("nonquery", "SELECT 1", result="nonquery", critical="> 60000"),
                 check("by-region", "SELECT region, sum(status = 'failed') AS failed "
                       "FROM orders GROUP BY region ORDER BY region", result="dataset",
                       value_column="failed", label_columns=("region",), warning="> 1"))
    runner = make_runner(s)
    found = {k: await runner.run_now(k) for k in runner.keys}
    assert [(r.status, r.value) for r in found["scalar@db"]] == [(WARN, 30.0)]
    assert [(r.status, r.value) for r in found["rowcount@db"]] == [(OK, 6.0)]
    assert [(r.status, r.value_text) for r in found["text@db"]] == [(OK, "all good")]
    assert found["nonquery@db"][0].status is OK
    assert [(dict(r.labels), r.value, r.status) for r in found["by-region@db"]] == [
        ({"region": "ap"}, 2.0, WARN), ({"region": "eu"}, 2.0, WARN),
        ({"region": "us"}, 2.0, WARN),
    ]


@pytest.mark.parametrize("sql", ["INSERT INTO orders VALUES (100, 'eu', 'ok')",
                                 "UPDATE orders SET status = 'ok'", "DELETE FROM orders",
                                 "CREATE TABLE sneaky (a)"])
async def test_writes_fail_clearly_and_change_nothing(
    db: str, make_runner: MakeRunner, sql: str
) -> None:
    runner = make_runner(settings(db, "sqlite", check("write", sql, result="nonquery")))
    (result,) = await runner.run_now("write@db")
    assert result.status is ERR
    assert result.message == ("SQL error: attempt to write a readonly database (checks run in "
                              "read-only transactions and must not write)")
    conn = sqlite3.connect(db.removeprefix("sqlite:///"))
    try:
        assert conn.execute("SELECT count(*), sum(status = 'failed') FROM orders").fetchone() \
            == (30, 6)
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (1,)
    finally:
        conn.close()


async def test_a_runaway_query_is_aborted_at_its_timeout(db: str, make_runner: MakeRunner
                                                         ) -> None:
    forever = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
               "SELECT count(*) FROM n")
    slow = check("slow", forever, timeout=timedelta(milliseconds=300))
    runner = make_runner(settings(db, "sqlite", slow))
    (result,) = await runner.run_now("slow@db")
    assert (result.status, result.message) == (ERR, "timed out after 0.3s (aborted at the "
                                                    "deadline)")
    assert (await runner.run_now("slow@db"))[0].status is ERR  # the session is still usable


async def test_a_missing_file_is_unreachable(tmp_path: Path, make_runner: MakeRunner) -> None:
    runner = make_runner(settings(f"sqlite:///{tmp_path / 'nope.db'}", "sqlite",
                                  check("c", "SELECT 1")))
    (result,) = await runner.run_now("c@db")
    assert result.status is ERR
    assert result.message == f"target unreachable: database file {tmp_path / 'nope.db'} " \
                             "does not exist"

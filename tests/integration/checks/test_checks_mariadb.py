"""SQL checks against the throwaway MariaDB: results, read-only, server-side timeout."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from checks_support import MakeRunner, check, settings

from planwatch.devtools import mariadbserver
from planwatch.model.checks import CheckStatus

pytestmark = pytest.mark.integration

OK, WARN, CRIT, ERR = (CheckStatus.OK, CheckStatus.WARNING, CheckStatus.CRITICAL,
                       CheckStatus.ERROR)


@pytest.fixture
def db(mariadb_server: mariadbserver.MariaDbServer) -> Iterator[tuple[str, str]]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    mariadb_server.sql(f"CREATE DATABASE {name}")
    mariadb_server.sql("CREATE TABLE orders (id int PRIMARY KEY, region varchar(8), "
                       "status varchar(8))", name)
    mariadb_server.sql("INSERT INTO orders SELECT seq, ELT(seq % 3 + 1, 'eu', 'us', 'ap'), "
                       "IF(seq % 5 = 0, 'failed', 'ok') FROM seq_1_to_30", name)
    try:
        yield mariadb_server.url(name), name
    finally:
        mariadb_server.sql(f"DROP DATABASE {name}")


async def test_every_result_type_and_dataset(db: tuple[str, str], make_runner: MakeRunner
                                             ) -> None:
    url, _ = db
    s = settings(url, "mariadb",
                 check("scalar", "SELECT count(*) FROM orders", critical=">= 30"),
                 check("rowcount", "SELECT id FROM orders WHERE status = 'failed'",
                       result="rowcount", operator="lt", expected=10),
                 check("nonquery", "SELECT SLEEP(0.01)", result="nonquery"),
                 check("by-region", "SELECT region, count(*) AS n FROM orders "
                       "WHERE status = 'failed' GROUP BY region ORDER BY region",
                       result="dataset", value_column="n", label_columns=("region",),
                       operator="ne", expected=2))
    runner = make_runner(s)
    found = {k: await runner.run_now(k) for k in runner.keys}
    assert [(r.status, r.value) for r in found["scalar@db"]] == [(CRIT, 30.0)]
    assert [(r.status, r.value) for r in found["rowcount@db"]] == [(OK, 6.0)]
    assert found["nonquery@db"][0].status is OK
    assert [(dict(r.labels), r.status) for r in found["by-region@db"]] == [
        ({"region": "ap"}, CRIT), ({"region": "eu"}, CRIT), ({"region": "us"}, CRIT),
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO orders VALUES (100, 'eu', 'ok')",
        "UPDATE orders SET status = 'ok'",
        "DELETE FROM orders",
        "CREATE TABLE sneaky (a int)",
    ],
)
async def test_writes_fail_clearly_and_change_nothing(
    db: tuple[str, str], make_runner: MakeRunner, mariadb_server: mariadbserver.MariaDbServer,
    sql: str,
) -> None:
    url, name = db
    runner = make_runner(settings(url, "mariadb", check("write", sql, result="nonquery")))
    (result,) = await runner.run_now("write@db")
    assert result.status is ERR
    assert "READ ONLY transaction" in result.message
    assert "checks run in read-only transactions" in result.message
    rows = mariadb_server.sql("SELECT count(*), sum(status = 'failed') FROM orders", name)
    assert [tuple(int(v) for v in r) for r in rows] == [(30, 6)]
    tables = mariadb_server.sql(f"SHOW TABLES FROM {name}")
    assert [t[0] for t in tables] == ["orders"]


async def test_timeout_is_cancelled_on_the_server(
    db: tuple[str, str], make_runner: MakeRunner, mariadb_server: mariadbserver.MariaDbServer
) -> None:
    url, _ = db
    slow = check("slow", "SELECT count(*) FROM orders a, orders b, orders c, orders d, "
                 "orders e, orders f WHERE SLEEP(0.001) = 0", timeout=timedelta(seconds=1))
    runner = make_runner(settings(url, "mariadb", slow))
    (result,) = await runner.run_now("slow@db")
    assert (result.status, result.message) == (
        ERR, "timed out after 1s (cancelled by the server: statement time limit)")
    running = mariadb_server.sql(
        "SELECT count(*) FROM information_schema.processlist "
        "WHERE info LIKE '%orders a, orders b%' AND id <> connection_id()")
    assert list(running) == [(0,)]


async def test_broken_sql_is_a_clear_error(db: tuple[str, str], make_runner: MakeRunner) -> None:
    url, _ = db
    runner = make_runner(settings(url, "mariadb", check("broken", "SELECT nope FROM orders"),
                                  check("fine", "SELECT 1")))
    (broken,) = await runner.run_now("broken@db")
    assert (broken.status, broken.message) == (
        ERR, "SQL error 1054: Unknown column 'nope' in 'SELECT'")
    assert (await runner.run_now("fine@db"))[0].status is OK

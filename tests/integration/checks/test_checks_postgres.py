"""SQL checks against the throwaway PostgreSQL: results, read-only, timeouts, schedule."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from checks_support import MakeRunner, check, settings

from planwatch.devtools import pgcluster
from planwatch.model.checks import CheckStatus
from polling import async_wait_until

pytestmark = pytest.mark.integration

OK, WARN, CRIT, ERR = (CheckStatus.OK, CheckStatus.WARNING, CheckStatus.CRITICAL,
                       CheckStatus.ERROR)


@pytest.fixture
def db(pg_cluster: pgcluster.PgCluster, pg_database: str) -> Iterator[str]:
    pg_cluster.psql(
        "CREATE TABLE orders (id int PRIMARY KEY, region text, status text);"
        "INSERT INTO orders SELECT g, (ARRAY['eu','us','ap'])[g % 3 + 1], "
        "CASE WHEN g % 5 = 0 THEN 'failed' ELSE 'ok' END FROM generate_series(1, 30) g;",
        pg_database,
    )
    yield pg_cluster.url(pg_database)


def _count(cluster: pgcluster.PgCluster, dbname: str, sql: str) -> str:
    return cluster.psql(sql, dbname).strip()


async def test_every_result_type(db: str, make_runner: MakeRunner) -> None:
    s = settings(db, "postgresql",
                 check("scalar", "SELECT count(*) FROM orders", warning="> 10"),
                 check("rowcount", "SELECT id FROM orders WHERE status = 'failed'",
                       result="rowcount", operator="eq", expected=6),
                 check("text", "SELECT 'state: ERROR'", critical="contains ERROR"),
                 check("nonquery", "SELECT pg_sleep(0.01)", result="nonquery",
                       warning="> 60000"))
    runner = make_runner(s)
    found = {k: await runner.run_now(k) for k in runner.keys}
    assert [(r.status, r.value) for r in found["scalar@db"]] == [(WARN, 30.0)]
    assert [(r.status, r.value) for r in found["rowcount@db"]] == [(OK, 6.0)]
    assert [(r.status, r.value_text) for r in found["text@db"]] == [(CRIT, "state: ERROR")]
    (nonquery,) = found["nonquery@db"]
    assert nonquery.status is OK and nonquery.value is not None and nonquery.value >= 10


async def test_dataset_gives_labelled_evaluations(db: str, make_runner: MakeRunner) -> None:
    sql = ("SELECT region, status, count(*) AS n FROM orders GROUP BY region, status "
           "ORDER BY region, status")
    s = settings(db, "postgresql", check("by-region", sql, result="dataset", value_column="n",
                                         label_columns=("region", "status"), critical="> 8"))
    runner = make_runner(s)
    results = await runner.run_now("by-region@db")
    assert [(dict(r.labels), r.value, r.status) for r in results] == [
        ({"region": "ap", "status": "failed"}, 2.0, OK),
        ({"region": "ap", "status": "ok"}, 8.0, OK),
        ({"region": "eu", "status": "failed"}, 2.0, OK),
        ({"region": "eu", "status": "ok"}, 8.0, OK),
        ({"region": "us", "status": "failed"}, 2.0, OK),
        ({"region": "us", "status": "ok"}, 8.0, OK),
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO orders VALUES (100, 'eu', 'ok')",
        "UPDATE orders SET status = 'ok'",
        "DELETE FROM orders",
        "CREATE TABLE sneaky (a int)",
        "SELECT 1; DELETE FROM orders",
    ],
)
async def test_writes_fail_clearly_and_change_nothing(
    db: str, make_runner: MakeRunner, pg_cluster: pgcluster.PgCluster, pg_database: str,
    sql: str,
) -> None:
    runner = make_runner(settings(db, "postgresql", check("write", sql, result="nonquery")))
    (result,) = await runner.run_now("write@db")
    assert result.status is ERR
    if ";" in sql:
        assert "cannot insert multiple commands into a prepared statement" in result.message
    else:
        assert "read-only transaction" in result.message
    assert _count(pg_cluster, pg_database,
                  "SELECT count(*), count(*) FILTER (WHERE status = 'failed') FROM orders "
                  ) == "30|6"
    assert _count(pg_cluster, pg_database, "SELECT to_regclass('sneaky') IS NULL") == "t"


async def test_timeout_is_cancelled_on_the_server(
    db: str, make_runner: MakeRunner, pg_cluster: pgcluster.PgCluster, pg_database: str
) -> None:
    slow = check("slow", "SELECT pg_sleep(30)", result="nonquery",
                 timeout=timedelta(seconds=1))
    runner = make_runner(settings(db, "postgresql", slow))
    (result,) = await runner.run_now("slow@db")
    assert (result.status, result.message) == (
        ERR, "timed out after 1s (cancelled by the server: statement_timeout)")
    assert _count(pg_cluster, pg_database,
                  "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' "
                  "AND state = 'active' AND pid <> pg_backend_pid()") == "0"


async def test_broken_sql_is_clear_and_others_keep_running(
    db: str, make_runner: MakeRunner
) -> None:
    s = settings(db, "postgresql",
                 check("broken", "SELEC count(*) FROM orders"),
                 check("missing", "SELECT count(*) FROM no_such_table"),
                 check("fine", "SELECT count(*) FROM orders", warning="> 100"))
    runner = make_runner(s)
    stop = asyncio.Event()
    loop = asyncio.create_task(runner.run(stop))
    await async_wait_until(lambda: all(st.runs >= 2 for st in runner.stats()), 30,
                           what="two runs of each check")
    stop.set()
    await loop
    results = runner.drain()
    by = {k: [r for r in results if f"{r.check}@{r.target}" == k] for k in runner.keys}
    assert {r.status for r in by["fine@db"]} == {OK} and len(by["fine@db"]) >= 2
    assert {r.message for r in by["broken@db"]} == {
        'SQL error 42601: syntax error at or near "SELEC" LINE 1: SELEC count(*) FROM orders '
        '^'}
    assert {r.message for r in by["missing@db"]} == {
        'SQL error 42P01: relation "no_such_table" does not exist '
        'LINE 1: SELECT count(*) FROM no_such_table ^'}
    assert len(by["broken@db"]) >= 2  # SQL errors do not stop or back off the check


async def test_slow_check_is_skipped_not_stacked(
    db: str, make_runner: MakeRunner, pg_cluster: pgcluster.PgCluster, pg_database: str
) -> None:
    slow = check("slow", "SELECT pg_sleep(1.6)", result="nonquery",
                 interval=timedelta(milliseconds=500))
    runner = make_runner(settings(db, "postgresql", slow))
    stop = asyncio.Event()
    loop = asyncio.create_task(runner.run(stop))
    concurrent = set()
    for _ in range(12):
        await asyncio.sleep(0.25)
        concurrent.add(_count(pg_cluster, pg_database,
                              "SELECT count(*) FROM pg_stat_activity "
                              "WHERE query LIKE 'SELECT pg_sleep(1.6)%' AND state = 'active'"))
    stop.set()
    await loop
    (stats,) = runner.stats()
    assert concurrent <= {"0", "1"}  # never two runs of the check at once
    assert stats.skips >= 2 and stats.runs >= 1


async def test_connections_are_reused(db: str, make_runner: MakeRunner) -> None:
    runner = make_runner(settings(db, "postgresql", check("pid", "SELECT pg_backend_pid()")))
    pids = {(await runner.run_now("pid@db"))[0].value for _ in range(5)}
    assert len(pids) == 1


async def test_target_down_and_back(make_runner: MakeRunner) -> None:
    cluster = pgcluster.start_cluster()
    try:
        runner = make_runner(settings(cluster.url(), "postgresql", check("up", "SELECT 1")))
        assert (await runner.run_now("up@db"))[0].status is OK
        cluster.stop()
        (down,) = await runner.run_now("up@db")
        assert down.status is ERR and down.message.startswith("target unreachable: ")
        (gated,) = await runner.run_now("up@db")  # backing off: no new connection attempt
        assert gated.message.startswith("target unreachable (next attempt in")
        cluster.start()

        async def back_up() -> bool:  # once past the (test) reconnect backoff
            return (await runner.run_now("up@db"))[0].status is OK

        await async_wait_until(back_up, 30, 0.2, what="the check to reconnect")
    finally:
        cluster.cleanup()


async def test_session_that_drops_read_only_is_not_reused(
    db: str, make_runner: MakeRunner
) -> None:
    s = settings(db, "postgresql",
                 check("evil", "SELECT set_config('default_transaction_read_only', 'off', false)",
                       result="rowcount", critical="< 0"),
                 check("write", "INSERT INTO orders VALUES (200, 'eu', 'ok')",
                       result="nonquery"))
    runner = make_runner(s)
    await runner.run_now("evil@db")
    (write,) = await runner.run_now("write@db")
    assert write.status is ERR and "read-only transaction" in write.message
    with psycopg.connect(db.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (30,)


async def test_max_parallel_bounds_concurrent_checks(
    db: str, make_runner: MakeRunner, pg_cluster: pgcluster.PgCluster, pg_database: str
) -> None:
    slow = [check(f"slow{i}", f"SELECT pg_sleep(0.8), {i}", result="nonquery")
            for i in range(4)]
    runner = make_runner(settings(db, "postgresql", *slow, max_parallel_checks=2))
    stop = asyncio.Event()
    loop = asyncio.create_task(runner.run(stop))
    seen = set()
    for _ in range(10):
        await asyncio.sleep(0.2)
        seen.add(int(_count(pg_cluster, pg_database,
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE query LIKE 'SELECT pg_sleep(0.8)%' AND state = 'active'")))
    stop.set()
    await loop
    assert max(seen) == 2  # never more than max_parallel_checks statements at once
    assert sum(s.runs for s in runner.stats()) >= 2

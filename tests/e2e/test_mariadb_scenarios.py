"""Issue 6's judged scenarios on a real MariaDB: steady, TRUNCATE of the digest table, dropped
index, recovery, and a slowdown without a plan change.

Same method as `test_regression_scenarios.py` (PostgreSQL): the worker's own jobs — collection,
analysis — are driven one run at a time (`scheduler.run_once`) against the
throwaway MariaDB of the `mariadb_server` fixture (performance_schema ON), while a real
workload runs in client threads. Each test has its own schema and watches only that schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path

import pymysql
import pytest

from planwatch.app import App
from planwatch.config import loader
from planwatch.devtools.mariadbserver import MariaDbServer
from planwatch.model.alerts import Alert, AlertKind, AlertStatus
from planwatch.storage import alerts

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POLL_S = 1.0
WINDOW_S = 5
POLLS_PER_WINDOW = int(WINDOW_S / POLL_S)

SCHEMA = (
    "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL,"
    " region VARCHAR(16) NOT NULL)",
    "INSERT INTO customers SELECT seq, CONCAT('customer ', seq),"
    " ELT(1 + seq % 4, 'north', 'south', 'east', 'west') FROM seq_1_to_5000",
    "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL,"
    " status VARCHAR(16) NOT NULL, total DECIMAL(10,2) NOT NULL, created_at DATETIME NOT NULL)",
    "INSERT INTO orders (customer_id, status, total, created_at)"
    " SELECT 1 + (seq * 7919) % 5000, ELT(1 + seq % 3, 'new', 'paid', 'shipped'),"
    " (seq % 1000) / 10, '2026-01-01' - INTERVAL seq MINUTE FROM seq_1_to_100000",
    "CREATE INDEX orders_customer_id_idx ON orders (customer_id)",
    "ANALYZE TABLE customers, orders",
)
ORDERS_OF_CUSTOMER = (
    "SELECT o.id, o.total, c.name FROM orders o JOIN customers c ON c.id = o.customer_id "
    "WHERE o.customer_id = %s ORDER BY o.created_at DESC LIMIT 20"
)
Query = tuple[str, Callable[[random.Random], object]]
WORKLOAD: tuple[Query, ...] = (
    (ORDERS_OF_CUSTOMER, lambda r: r.randint(1, 5000)),
    ("SELECT name, region FROM customers WHERE id = %s", lambda r: r.randint(1, 5000)),
    ("SELECT COUNT(*) FROM customers WHERE region = %s", lambda r: r.choice(["north", "south"])),
)
GROWTH_WORKLOAD: tuple[Query, ...] = (
    ("SELECT COUNT(*), SUM(total) FROM orders WHERE status = %s",
     lambda r: r.choice(["new", "paid", "shipped"])),
    ("SELECT name, region FROM customers WHERE id = %s", lambda r: r.randint(1, 5000)),
)
TRUNCATE = "TRUNCATE TABLE performance_schema.events_statements_summary_by_digest"


class Workload:
    """A few pymysql client threads running `queries` on one schema until stopped."""

    def __init__(self, server: MariaDbServer, schema: str, clients: int = 3,
                 queries: Sequence[Query] = WORKLOAD) -> None:
        self.server, self.schema, self.queries = server, schema, queries
        self.stop, self.errors = threading.Event(), list[BaseException]()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Workload:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)
        assert self.errors == [], self.errors

    def _client(self) -> None:
        rnd = random.Random()
        try:
            with contextlib.closing(self.server.connect(self.schema)) as conn, \
                    conn.cursor() as cur:
                while not self.stop.is_set():
                    sql, arg = rnd.choice(self.queries)
                    cur.execute(sql, (arg(rnd),))
                    cur.fetchall()
                    time.sleep(0.002)
        except pymysql.err.MySQLError as exc:
            self.errors.append(exc)


@pytest.fixture
def shop(mariadb_server: MariaDbServer) -> Iterator[str]:
    name = f"shop_{uuid.uuid4().hex[:8]}"
    mariadb_server.sql(f"CREATE DATABASE {name}")
    for statement in SCHEMA:
        mariadb_server.sql(statement, db=name)
    yield name
    mariadb_server.sql(f"DROP DATABASE IF EXISTS {name}")


def _settings(tmp_path: Path, server: MariaDbServer, schema: str) -> dict[str, object]:
    return {
        "storage": {"url": f"sqlite:///{tmp_path / 'planwatch.db'}"},
        "targets": [{"name": "shop", "engine": "mariadb", "dsn": server.url(schema)}],
        "analysis": {"regression": {
            "window": f"{WINDOW_S}s", "min_baseline_samples": 8, "min_calls": 10,
            "min_impact": "0.5s", "resolve_after_windows": 3,
        }},
        "http": {"enabled": False},
    }


class Driver:
    """Runs the worker's collection and analysis jobs one at a time."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.statuses: list[str] = []

    async def poll(self, analyze: bool = True) -> None:
        outcome = await self.app.scheduler.run_once("collection:shop")
        assert outcome.result_status.value != "Error", outcome.message
        self.statuses.append(outcome.result_status.value)
        if analyze:
            await self.app.scheduler.run_once("analysis")
        await asyncio.sleep(POLL_S)

    async def baseline(self, polls: int = 8 + 2) -> None:
        """Learn as a fresh install does: collections and analyses, no forced rebuild."""
        for _ in range(polls):
            await self.poll()

    def regressions(self, status: str = "all") -> list[Alert]:
        return alerts.list_alerts(self.app.storage, status=status,
                                  kind=AlertKind.REGRESSION.value)

    async def until(self, predicate: Callable[[], object], polls: int) -> int:
        for n in range(1, polls + 1):
            await self.poll()
            if predicate():
                return n
        return -1


@pytest.fixture
async def driver(tmp_path: Path, mariadb_server: MariaDbServer, shop: str
                 ) -> AsyncIterator[Driver]:
    settings = loader.load_mapping(_settings(tmp_path, mariadb_server, shop), environ={})
    async with App(settings, one_shot=True) as app:
        yield Driver(app)


def _digest(server: MariaDbServer, schema: str, fragment: str) -> str:
    rows = server.sql(
        "SELECT DIGEST FROM performance_schema.events_statements_summary_by_digest "
        f"WHERE SCHEMA_NAME = '{schema}' AND DIGEST_TEXT LIKE 'SELECT %{fragment}%'")
    assert len(rows) == 1, rows
    return str(rows[0][0])


async def test_steady_truncate_drop_index_then_recover(
    driver: Driver, mariadb_server: MariaDbServer, shop: str
) -> None:
    with Workload(mariadb_server, shop):
        await driver.baseline()
        for _ in range(2 * POLLS_PER_WINDOW):  # steady workload: two windows, nothing raised
            await driver.poll()
        assert driver.regressions() == []

        mariadb_server.sql(TRUNCATE)  # mid-run: like a pg_stat_statements reset
        polled = len(driver.statuses)
        for _ in range(POLLS_PER_WINDOW):
            await driver.poll()
        assert driver.regressions() == []
        assert driver.statuses[polled] == "Warning"  # the reset poll: no samples, a warning

        mariadb_server.sql("DROP INDEX orders_customer_id_idx ON orders", db=shop)
        # two windows to detect, then pending for one more (`alerting.for`) before it opens
        took = await driver.until(
            lambda: [a for a in driver.regressions() if a.status is AlertStatus.OPEN],
            3 * POLLS_PER_WINDOW)
        assert took > 0, "no open regression alert within three analysis windows"
        (alert,) = driver.regressions()
        assert alert.query_id == _digest(mariadb_server, shop, "JOIN `customers`")
        assert alert.database == shop
        assert alert.plan_changed is True, alert.details
        assert alert.ratio is not None and alert.ratio >= 2
        assert alert.details["old_plan_hash"] != alert.details["new_plan_hash"]
        assert "o: ref (orders_customer_id_idx) -> ALL" in alert.details["plan_diff"]
        assert alert.query_text and "`customer_id` = ?" in alert.query_text

        mariadb_server.sql("CREATE INDEX orders_customer_id_idx ON orders (customer_id)", db=shop)
        resolved = await driver.until(
            lambda: driver.regressions()[0].status is AlertStatus.RESOLVED, 6 * POLLS_PER_WINDOW
        )
        assert resolved > 0, "the regression did not auto-resolve after the index came back"
        assert len(driver.regressions()) == 1  # resolved in place, never a twin
        events = [e.event for e in alerts.events(driver.app.storage, alert.id or 0)]
        # pending for one window (`alerting.for`), then opened, then resolved
        assert events[0] == "pending" and "opened" in events and events[-1] == "resolved"


async def test_slowdown_without_plan_change(
    driver: Driver, mariadb_server: MariaDbServer, shop: str
) -> None:
    with Workload(mariadb_server, shop, clients=2, queries=GROWTH_WORKLOAD):
        await driver.baseline()
        await driver.poll()
        assert driver.regressions() == []
        grow = ("INSERT INTO orders (customer_id, status, total, created_at) "
                "SELECT customer_id, status, total, created_at FROM orders")
        for statement in (grow, grow, "ANALYZE TABLE orders"):  # 4x the rows, same plan
            mariadb_server.sql(statement, db=shop)
        # Until the alert has its plan verdict: a pending alert may still wait for the plan
        # captured after the slowdown began (verdict unknown until then).
        took = await driver.until(
            lambda: [a for a in driver.regressions() if a.plan_changed is not None],
            3 * POLLS_PER_WINDOW)
        assert took > 0, "data growth slowdown not detected with a plan verdict"
    (alert,) = driver.regressions()
    assert alert.query_id == _digest(mariadb_server, shop, "SUM ( `total` )")
    assert alert.plan_changed is False
    assert alert.details["cause"] in ("same_plan", "parameter_sensitivity")
    assert alert.details["old_plan_hash"] == alert.details["new_plan_hash"] is not None


CONTENDED: tuple[Query, ...] = (
    ("SELECT id, total FROM orders WHERE id = %s FOR UPDATE", lambda r: r.randint(1, 3)),
    ("SELECT name, region FROM customers WHERE id = %s", lambda r: r.randint(1, 5000)),
)


class LockHolder:
    """Another transaction that keeps orders 1-3 locked a second at a time."""

    def __init__(self, server: MariaDbServer, schema: str) -> None:
        self.server, self.schema, self.stop = server, schema, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LockHolder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        with contextlib.closing(self.server.connect(self.schema)) as conn:
            conn.autocommit(False)
            while not self.stop.is_set():
                with conn.cursor() as cur:
                    cur.execute("SELECT id FROM orders WHERE id IN (1, 2, 3) FOR UPDATE")
                self.stop.wait(1.0)
                conn.commit()
                self.stop.wait(0.2)


async def test_row_lock_contention_is_named_and_not_a_plan_change(
    driver: Driver, mariadb_server: MariaDbServer, shop: str
) -> None:
    with Workload(mariadb_server, shop, queries=CONTENDED):
        await driver.baseline()
        assert driver.regressions() == []
        locked = _digest(mariadb_server, shop, "FOR UPDATE")

        def judged() -> Alert | None:
            found = [a for a in driver.regressions() if a.query_id == locked]
            ok = found and found[0].details.get("cause") == "same_plan" and \
                "summary" in found[0].details.get("waits", {})
            return found[0] if ok else None

        with LockHolder(mariadb_server, shop):
            took = await driver.until(judged, 4 * POLLS_PER_WINDOW)
    assert took > 0, [(a.query_id, a.details.get("cause"), a.details.get("waits"))
                      for a in driver.regressions()]
    alert = judged()
    assert alert is not None and alert.plan_changed is False
    assert "Lock/row lock" in alert.details["waits"]["summary"]
    assert [a.query_id for a in driver.regressions()] == [locked]  # nothing else alerted

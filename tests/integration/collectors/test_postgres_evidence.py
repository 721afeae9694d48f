"""Plan evidence on a real PostgreSQL: plans explained in the application's context (its role
and role/database settings), hypothetical indexes (hypopg), and waits per query
(pg_stat_activity, pg_wait_sampling)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from planwatch.collectors import pg_capture, pg_session
from planwatch.collectors.postgres import PostgresCollector
from planwatch.config.settings import Secret, TargetSettings
from planwatch.devtools.pgcluster import PgCluster, start_cluster
from planwatch.model.plans import IndexCandidate, PlanRequest
from planwatch.model.samples import CollectionResult
from polling import wait_until

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=1)
NOT_BLOCKED = ("SELECT count(*) FROM customers c WHERE c.id NOT IN "
               "(SELECT customer_id FROM blocked)")
LOOKUP = "SELECT count(*) FROM orders WHERE customer_id = %s"
RESERVE = "UPDATE stock SET n = n - 1 WHERE id = %s"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    """A cluster of this module's own: pg_wait_sampling must be preloaded."""
    c = start_cluster({"shared_preload_libraries": "pg_stat_statements,pg_wait_sampling"})
    c.psql("DO $$ BEGIN CREATE ROLE app LOGIN; CREATE ROLE watcher LOGIN; END $$;"
           "GRANT pg_read_all_stats TO watcher;")
    try:
        yield c
    finally:
        c.cleanup()


@pytest.fixture
def db(cluster: PgCluster) -> Iterator[str]:
    name = f"ev_{uuid.uuid4().hex[:8]}"
    cluster.psql(f"CREATE DATABASE {name}")
    cluster.psql(
        "CREATE EXTENSION pg_stat_statements; CREATE EXTENSION hypopg;"
        "CREATE EXTENSION pg_wait_sampling;"
        "CREATE TABLE customers (id int PRIMARY KEY);"
        "INSERT INTO customers SELECT g FROM generate_series(1, 3000) g;"
        "CREATE TABLE blocked (customer_id int NOT NULL);"
        "INSERT INTO blocked SELECT g FROM generate_series(1, 6000) g;"
        "CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL);"
        "INSERT INTO orders SELECT g, g % 500 FROM generate_series(1, 50000) g;"
        "CREATE TABLE stock (id int PRIMARY KEY, n int NOT NULL);"
        "INSERT INTO stock VALUES (1, 1000000);"
        "ANALYZE;"
        "GRANT SELECT, UPDATE ON ALL TABLES IN SCHEMA public TO app;"
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO watcher;",
        name,
    )
    cluster.psql(f"ALTER ROLE app IN DATABASE {name} SET work_mem = '64kB'")
    yield name
    cluster.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def collector(cluster: PgCluster, db: str, **kw: Any) -> PostgresCollector:
    return PostgresCollector(TargetSettings(
        name="ev", engine="postgresql", dsn=Secret(cluster.dsn(db, user="watcher")), **kw))


def run_as(cluster: PgCluster, db: str, role: str, sql: str, params: list[Any]) -> None:
    with psycopg.connect(cluster.dsn(db, user=role), autocommit=True) as conn:
        for p in params:
            conn.execute(sql, p)


def query_id(result: CollectionResult, fragment: str) -> str:
    return next(t.ref.query_id for t in result.texts if fragment in t.text)


def test_a_plan_is_explained_with_the_application_roles_settings(
    cluster: PgCluster, db: str
) -> None:
    """work_mem of the application role turns a hashed subplan into one rescanned per row:
    explained as the monitoring role, the plan would be the hashed one."""
    c = collector(cluster, db)
    try:
        run_as(cluster, db, "app", NOT_BLOCKED, [()])
        first = c.collect(T0)
        plan = next(p for p in first.plans if "blocked" in p.plan_json)
        assert plan.context["role"] == "app"
        assert plan.context["settings"] == {"work_mem": "64kB"}
        assert plan.context["as_role"] is False  # watcher is no member of app
        assert '"subplan:per row"' in plan.plan_json
        own = c.connection().execute("SELECT current_setting('work_mem') AS w").fetchone()
        assert own == {"w": "4MB"}  # the collector's own session is unchanged
    finally:
        c.close()
    cluster.psql("GRANT app TO watcher")
    c = collector(cluster, db)
    try:
        run_as(cluster, db, "app", NOT_BLOCKED, [(), ()])
        again = next(p for p in c.collect(T0).plans if "blocked" in p.plan_json)
        assert again.context["as_role"] is True
    finally:
        c.close()
        cluster.psql("REVOKE app FROM watcher")


def test_settings_that_cannot_be_applied_are_said_and_the_plan_still_comes(
    cluster: PgCluster, db: str
) -> None:
    with psycopg.connect(cluster.dsn(db, user="watcher"), autocommit=True,
                         row_factory=psycopg.rows.dict_row) as conn:
        context = pg_capture.ExplainContext(role="app", settings=(("work_mem", "nonsense"),))
        explained = pg_capture.explain(conn, "SELECT count(*) FROM orders WHERE id = $1",
                                       150000, context)
        assert explained.doc[0]["Plan"]["Node Type"] == "Aggregate"
        assert explained.context["settings_failed"] == {"work_mem": "nonsense"}
        assert conn.execute("SELECT count(*) AS n FROM pg_prepared_statements").fetchone() == {
            "n": 0}


def test_index_advice_tests_the_candidate_as_a_hypothetical_index(
    cluster: PgCluster, db: str
) -> None:
    c = collector(cluster, db)
    try:
        run_as(cluster, db, "watcher", LOOKUP, [(1,), (2,)])
        first = c.collect(T0)
        qid = query_id(first, "FROM orders WHERE customer_id")
        c.request_plans([PlanRequest("ev", db, qid, T0, "index_advice",
                                     (IndexCandidate("orders", ("customer_id",)),))])
        run_as(cluster, db, "watcher", LOOKUP, [(3,)])
        second = c.collect(T0 + STEP)
        plan = next(p for p in second.plans if p.ref.query_id == qid)
        advice = plan.context["index_advice"]
        assert advice["available"] is True and advice["used"] is True
        assert advice["index"] == ["orders (customer_id)"]
        assert advice["cost_with"] < advice["cost_without"] / 2
        left = c.connection().execute(
            "SELECT count(*) AS n FROM hypopg_list_indexes").fetchone()
        assert left == {"n": 0}  # hypothetical indexes never outlive the capture
        assert "Seq Scan" in plan.plan_json  # the captured plan itself is the real one
    finally:
        c.close()


def _blocked_call(cluster: PgCluster, db: str, hold_s: float) -> threading.Thread:
    """A session holds the row for `hold_s`; another one's UPDATE waits for it."""
    ready = threading.Event()

    def holder() -> None:
        with psycopg.connect(cluster.dsn(db, user="app")) as conn:
            conn.execute(RESERVE, (1,))
            ready.set()
            time.sleep(hold_s)
            conn.commit()

    t = threading.Thread(target=holder, daemon=True)
    t.start()
    ready.wait(10)
    victim = threading.Thread(target=run_as, args=(cluster, db, "app", RESERVE, [(1,)]),
                              daemon=True)
    victim.start()
    return victim


def test_waits_are_sampled_and_attributed_to_the_waiting_query(
    cluster: PgCluster, db: str
) -> None:
    c = collector(cluster, db)
    try:
        run_as(cluster, db, "app", RESERVE, [(1,)])
        first = c.collect(T0)
        reserve = query_id(first, "UPDATE stock")
        victim = _blocked_call(cluster, db, hold_s=2.0)
        wait_until(lambda: cluster.psql("SELECT count(*) FROM pg_stat_activity"
                                        " WHERE wait_event_type = 'Lock'", db).strip() != "0",
                   30, what="the UPDATE to wait")
        during = c.collect(T0 + STEP)  # the victim waits while the holder's call is done
        victim.join(10)
        after = c.collect(T0 + 2 * STEP)  # the victim's call is done
        seen = [s for s in (*during.samples, *after.samples) if s.ref.query_id == reserve]
        activity = [s.extras["activity"] for s in seen if "activity" in s.extras]
        assert activity == [{"Lock/transactionid": 1}]  # one snapshot saw one session waiting
        waited = sum(s.extras.get("wait_ms", {}).get("Lock/transactionid", 0.0) for s in seen)
        assert waited >= 1000  # pg_wait_sampling: about the second and more it waited
    finally:
        c.close()


def test_role_context_of_an_unknown_user_is_empty(cluster: PgCluster, db: str) -> None:
    with psycopg.connect(cluster.dsn(db, user="watcher"), autocommit=True,
                         row_factory=psycopg.rows.dict_row) as conn:
        assert pg_capture.role_context(conn, 987654, db, superuser=False) == (
            pg_capture.ExplainContext())
        facts = pg_session.detect(conn, "ev")
        assert facts.superuser is False

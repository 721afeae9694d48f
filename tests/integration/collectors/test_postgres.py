"""The PostgreSQL collector against the throwaway cluster (shared: filter by our own database)."""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from planwatch.collectors import base, sqlfiles
from planwatch.collectors.postgres import PostgresCollector
from planwatch.config.settings import Secret, TargetSettings
from planwatch.devtools import pgcluster
from planwatch.devtools.pgcluster import PgCluster
from planwatch.errors import CollectorError, TargetUnreachable
from planwatch.model.plans import PlanRequest
from planwatch.model.samples import CollectionResult

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LOOKUP = "SELECT count(*) FROM orders WHERE customer_id = %s"
TOTALS = "SELECT sum(total) FROM orders WHERE customer_id < %s"


@pytest.fixture
def shop(pg_cluster: PgCluster, pg_database: str) -> str:
    pg_cluster.psql(
        "CREATE EXTENSION pg_stat_statements;"
        "CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, total numeric);"
        "INSERT INTO orders SELECT g, g % 2000, g * 0.5 FROM generate_series(1, 20000) g;"
        "CREATE INDEX orders_customer_idx ON orders (customer_id);"
        "ANALYZE orders;",
        pg_database,
    )
    return pg_database


def target(dsn: str, **kw: Any) -> TargetSettings:
    return TargetSettings(name="pg-test", engine="postgresql", dsn=Secret(dsn), **kw)


@pytest.fixture
def collector_for(pg_cluster: PgCluster) -> Iterator[Any]:
    made: list[PostgresCollector] = []

    def make(db: str, **kw: Any) -> PostgresCollector:
        collector = base.create(target(pg_cluster.dsn(db), **kw))
        assert isinstance(collector, PostgresCollector)
        made.append(collector)
        return collector

    yield make
    for collector in made:
        collector.close()


def run(pg_cluster: PgCluster, db: str, statement: str, params: list[int]) -> None:
    with psycopg.connect(pg_cluster.dsn(db), autocommit=True) as conn:
        for p in params:
            conn.execute(statement, (p,))  # type: ignore[arg-type]


def ids_by_text(result: CollectionResult, known: dict[str, str]) -> dict[str, str]:
    known.update({t.text: t.ref.query_id for t in result.texts})
    return known


def sample_for(result: CollectionResult, query_id: str) -> Any:
    return next((s for s in result.samples if s.ref.query_id == query_id), None)


def test_two_polls_give_call_deltas_and_texts_once(
    pg_cluster: PgCluster, shop: str, collector_for: Any
) -> None:
    collector = collector_for(shop, plan_capture=False)
    run(pg_cluster, shop, LOOKUP, [1, 2, 3])
    first = collector.collect(T0)
    assert first.health.first_poll and first.samples == () and first.interval_start is None
    assert first.health.max_entries == 5000 and first.health.entries > 0
    assert first.health.warnings == ()  # superuser sees everything
    assert collector.text_fetches == 1
    texts = ids_by_text(first, {})
    lookup_id = texts["SELECT count(*) FROM orders WHERE customer_id = $1"]

    run(pg_cluster, shop, LOOKUP, [4, 5, 6, 7, 8])
    run(pg_cluster, shop, TOTALS, [10, 20])  # a new query id: its text is fetched
    second = collector.collect(T0 + timedelta(minutes=5))
    assert collector.text_fetches == 2
    texts = ids_by_text(second, texts)
    totals_id = texts["SELECT sum(total) FROM orders WHERE customer_id < $1"]
    lookup = sample_for(second, lookup_id)
    assert lookup.calls == 5 and lookup.rows == 5 and lookup.total_ms > 0
    assert lookup.ref.database == shop and lookup.ref.fingerprint
    assert (lookup.interval_start, lookup.interval_end) == (T0, T0 + timedelta(minutes=5))
    assert sample_for(second, totals_id).calls == 2

    run(pg_cluster, shop, LOOKUP, [9])
    third = collector.collect(T0 + timedelta(minutes=10))
    assert collector.text_fetches == 2  # nothing new: showtext := false only
    assert sample_for(third, lookup_id).calls == 1
    assert not any(sqlfiles.is_own(t.text) for t in (*first.texts, *second.texts))
    own = {
        line for line in pg_cluster.psql(
            "SELECT queryid FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            f"WHERE d.datname = '{shop}' AND query LIKE '/* planwatch */%'"
        ).split()
    }
    assert own, "the collector's own statements are tracked by pg_stat_statements"
    sampled = {s.ref.query_id for r in (second, third) for s in r.samples}
    assert not own & sampled


def test_missed_polls_from_the_gap(shop: str, collector_for: Any) -> None:
    collector = collector_for(shop, plan_capture=False)
    collector.collect(T0)
    collector.collect(T0 + timedelta(minutes=5))
    assert collector.collect(T0 + timedelta(minutes=20)).health.missed_polls == 2


def test_reset_between_polls_gives_no_samples(
    pg_cluster: PgCluster, shop: str, collector_for: Any
) -> None:
    collector = collector_for(shop, plan_capture=False)
    run(pg_cluster, shop, LOOKUP, [1])
    first = collector.collect(T0)
    run(pg_cluster, shop, LOOKUP, [2, 3])
    pg_cluster.psql("SELECT pg_stat_statements_reset()")
    run(pg_cluster, shop, LOOKUP, [4, 5, 6, 7])
    result = collector.collect(T0 + timedelta(minutes=5))
    assert result.health.reset and result.samples == ()
    run(pg_cluster, shop, LOOKUP, [8])
    after = collector.collect(T0 + timedelta(minutes=10))
    assert not after.health.reset
    lookup_id = ids_by_text(first, {})["SELECT count(*) FROM orders WHERE customer_id = $1"]
    assert sample_for(after, lookup_id).calls == 1


def test_plan_captured_then_recaptured_after_drop_index(
    pg_cluster: PgCluster, shop: str, collector_for: Any
) -> None:
    # DSN on the `postgres` database: EXPLAIN must run in the statement's own database.
    collector = collector_for("postgres", databases=(shop,), explain_per_query_per_hour=10)
    run(pg_cluster, shop, LOOKUP, [1, 2])
    first = collector.collect(T0)
    texts = ids_by_text(first, {})
    lookup_id = texts["SELECT count(*) FROM orders WHERE customer_id = $1"]
    before = next(p for p in first.plans if p.ref.query_id == lookup_id)
    assert "orders_customer_idx" in before.plan_json
    assert all(s.ref.database == shop for s in first.samples)

    pg_cluster.psql("DROP INDEX orders_customer_idx", shop)
    run(pg_cluster, shop, LOOKUP, [3, 4])
    collector.request_plans([PlanRequest("pg-test", shop, lookup_id, T0)])
    second = collector.collect(T0 + timedelta(minutes=5))
    after = next(p for p in second.plans if p.ref.query_id == lookup_id)
    assert after.plan_hash != before.plan_hash
    assert "orders_customer_idx" not in after.plan_json and "Seq Scan" in after.plan_json
    sample = sample_for(second, lookup_id)
    assert sample.plan_hash == after.plan_hash and sample.plan_observed
    [attempt] = [a for a in second.plan_attempts if a.query_id == lookup_id]
    assert attempt.requested and attempt.plan_hash == after.plan_hash and attempt.error is None
    run(pg_cluster, shop, LOOKUP, [5])
    third = collector.collect(T0 + timedelta(minutes=10))
    carried = sample_for(third, lookup_id)
    assert carried.plan_hash == after.plan_hash and not carried.plan_observed
    prepared = collector.connection().execute("SELECT count(*) AS n FROM pg_prepared_statements")
    assert prepared.fetchone() == {"n": 0}


def test_a_failing_explain_is_skipped(pg_cluster: PgCluster, shop: str, collector_for: Any) -> None:
    collector = collector_for(shop)
    # `$1 IS NULL` cannot be typed for a generic plan: the capture fails, the poll does not.
    run(pg_cluster, shop, "SELECT count(*) FROM orders WHERE id = 1 OR %s IS NULL", [1])
    run(pg_cluster, shop, LOOKUP, [1])
    result = collector.collect(T0)
    texts = ids_by_text(result, {})
    failing = next(qid for text, qid in texts.items() if "IS NULL" in text)
    lookup = texts["SELECT count(*) FROM orders WHERE customer_id = $1"]
    captured = {p.ref.query_id for p in result.plans}
    assert failing not in captured and lookup in captured
    assert collector.explains > len(result.plans)
    assert collector.connection().info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_session_is_read_only_and_named(shop: str, collector_for: Any) -> None:
    collector = collector_for(shop)
    conn = collector.connection()
    assert conn.execute("SHOW application_name").fetchone() == {"application_name": "planwatch"}
    assert conn.execute("SHOW statement_timeout").fetchone() == {"statement_timeout": "30s"}
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("CREATE TABLE planwatch_must_not_exist (id int)")


def test_lost_session_is_unreachable_then_reopened(
    pg_cluster: PgCluster, shop: str, collector_for: Any
) -> None:
    collector = collector_for(shop, plan_capture=False)
    collector.collect(T0)
    pid = collector.connection().info.backend_pid
    pg_cluster.psql(f"SELECT pg_terminate_backend({pid})")
    with pytest.raises(TargetUnreachable):
        collector.collect(T0 + timedelta(minutes=5))
    run(pg_cluster, shop, LOOKUP, [1, 2])
    result = collector.collect(T0 + timedelta(minutes=10))
    assert collector.connection().info.backend_pid != pid
    assert not result.health.first_poll and any(s.calls == 2 for s in result.samples)


def test_missing_extension_is_fatal_with_the_fix(pg_database: str, collector_for: Any) -> None:
    collector = collector_for(pg_database)
    with pytest.raises(CollectorError) as info:
        collector.collect(T0)
    assert info.value.fatal and "CREATE EXTENSION pg_stat_statements;" in str(info.value)
    assert "shared_preload_libraries = 'pg_stat_statements'" in str(info.value)


def test_library_not_preloaded_is_fatal_with_the_fix() -> None:
    with pgcluster.running_cluster({"shared_preload_libraries": ""}) as bare:
        collector = PostgresCollector(target(bare.dsn("postgres")))
        with pytest.raises(CollectorError) as info:
            collector.collect(T0)
        collector.close()
    assert info.value.fatal and "not loaded" in str(info.value)
    assert "shared_preload_libraries = 'pg_stat_statements'" in str(info.value)


def test_role_without_read_all_stats_gets_a_warning(
    pg_cluster: PgCluster, shop: str, collector_for: Any
) -> None:
    role = f"pw_{uuid.uuid4().hex[:8]}"
    pg_cluster.psql(f"CREATE ROLE {role} LOGIN")
    try:
        run(pg_cluster, shop, LOOKUP, [1])  # the superuser's statements are hidden from role
        collector = PostgresCollector(target(pg_cluster.dsn(shop, user=role), plan_capture=False))
        try:
            health = collector.collect(T0).health
        finally:
            collector.close()
        assert any(f"GRANT pg_read_all_stats TO {role}" in w for w in health.warnings)
    finally:
        pg_cluster.psql(f"DROP ROLE {role}")


def test_unknown_database_and_role_are_fatal_and_clear(pg_cluster: PgCluster) -> None:
    missing_db = PostgresCollector(target(pg_cluster.dsn("no_such_db_x")))
    with pytest.raises(CollectorError) as info:
        missing_db.collect(T0)
    assert info.value.fatal and 'no_such_db_x does not exist' in str(info.value)

    missing_role = PostgresCollector(
        target(pg_cluster.dsn("postgres", user="no_such_role_x", password="s3cret")))
    with pytest.raises(CollectorError) as info:
        missing_role.collect(T0)
    assert info.value.fatal and "authentication failed for user no_such_role_x" in str(info.value)
    assert "s3cret" not in str(info.value)


def test_unreachable_port_never_shows_the_password(pg_cluster: PgCluster) -> None:
    dsn = pg_cluster.dsn("postgres", password="s3cret", connect_timeout="2").replace(
        f"port={pg_cluster.port}", "port=1")
    collector = PostgresCollector(target(dsn))
    with pytest.raises(TargetUnreachable) as info:
        collector.collect(T0)
    text = "".join(traceback.format_exception(info.value))
    assert "127.0.0.1:1/postgres" in str(info.value)
    assert "s3cret" not in text and "s3cret" not in repr(info.value)


def test_url_dsn_password_is_masked_too(pg_cluster: PgCluster) -> None:
    url = "postgresql://postgres:s3cret@127.0.0.1:1/postgres?connect_timeout=2"
    with pytest.raises(TargetUnreachable) as info:
        PostgresCollector(target(url)).collect(T0)
    assert "s3cret" not in "".join(traceback.format_exception(info.value))


def test_factory_rejects_engines_without_collector() -> None:
    with pytest.raises(CollectorError) as info:
        base.create(TargetSettings(name="m", engine="sqlite", dsn=Secret("x")))
    assert info.value.fatal and "engine sqlite has no collector yet" in str(info.value)


def test_a_rolled_back_poll_is_covered_by_the_next_one(
    pg_cluster: PgCluster, shop: str, collector_for: Any
) -> None:
    """Storage refused the poll at T0+5m: the next poll measures from T0 again, so its one
    longer interval holds every call, and the texts of the lost poll come again."""
    collector = collector_for(shop)
    collector.collect(T0)
    run(pg_cluster, shop, LOOKUP, [1, 2])
    lost = collector.collect(T0 + timedelta(minutes=5))
    lookup_id = ids_by_text(lost, {})["SELECT count(*) FROM orders WHERE customer_id = $1"]
    collector.rollback()
    run(pg_cluster, shop, LOOKUP, [3, 4, 5])
    covered = collector.collect(T0 + timedelta(minutes=10))
    sample = sample_for(covered, lookup_id)
    assert (sample.calls, sample.interval_start) == (5, T0)
    assert {t.ref.query_id for t in lost.texts} <= {t.ref.query_id for t in covered.texts}
    assert {p.plan_hash for p in lost.plans} <= {p.plan_hash for p in covered.plans}
    assert covered.health.missed_polls == 0
    run(pg_cluster, shop, LOOKUP, [6])
    after = collector.collect(T0 + timedelta(minutes=15))  # not rolled back: it stood
    assert sample_for(after, lookup_id).calls == 1
    assert after.texts == ()

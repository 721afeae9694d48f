"""The MySQL/MariaDB collector against the throwaway MariaDB (never the machine's 3306 server).

Each test works in its own schema and watches only that schema, so tests sharing the
session server do not see each other's statements.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pymysql
import pytest

from leak_check import no_resource_warnings
from planwatch.collectors import base, mysql_session
from planwatch.collectors.mysql import MysqlCollector
from planwatch.config.settings import Secret, TargetSettings
from planwatch.devtools import mariadbserver, pgcluster
from planwatch.devtools.mariadbserver import MariaDbServer
from planwatch.errors import CollectorError, TargetUnreachable
from planwatch.model.plans import PlanRequest
from planwatch.model.samples import CollectionResult, QuerySample
from polling import wait_until

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
LOOKUP = "SELECT COUNT(*) FROM orders WHERE customer_id = {}"
TOTALS = "SELECT SUM(total) FROM orders WHERE customer_id < {}"


@pytest.fixture
def shop(mariadb_server: MariaDbServer) -> Iterator[str]:
    schema = f"shop_{uuid.uuid4().hex[:10]}"
    mariadb_server.sql(f"CREATE DATABASE {schema}")
    mariadb_server.sql(
        "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10,2),"
        " KEY orders_customer_idx (customer_id))", db=schema)
    mariadb_server.sql(
        "INSERT INTO orders SELECT seq, seq % 500, seq / 2 FROM seq_1_to_5000", db=schema)
    mariadb_server.sql("ANALYZE TABLE orders", db=schema)
    yield schema
    mariadb_server.sql(f"DROP DATABASE IF EXISTS {schema}")


def target(url: str, **kw: Any) -> TargetSettings:
    return TargetSettings(name="maria", engine="mariadb", dsn=Secret(url), **kw)


@pytest.fixture
def collector_for(mariadb_server: MariaDbServer) -> Iterator[Any]:
    made: list[MysqlCollector] = []

    def make(schema: str, url: str | None = None, **kw: Any) -> MysqlCollector:
        collector = base.create(target(url or mariadb_server.url(schema), **kw))
        assert isinstance(collector, MysqlCollector)
        made.append(collector)
        return collector

    yield make
    for collector in made:
        collector.close()


def run(server: MariaDbServer, schema: str, template: str, values: list[int]) -> None:
    with contextlib.closing(server.connect(schema)) as conn, conn.cursor() as cur:
        for value in values:
            cur.execute(template.format(value))


def by_text(result: CollectionResult, known: dict[str, str]) -> dict[str, str]:
    """Map normalized digest texts to digests, accumulating over polls."""
    known.update({t.text: t.ref.query_id for t in result.texts})
    return known


def sample(result: CollectionResult, digest: str) -> QuerySample | None:
    return next((s for s in result.samples if s.ref.query_id == digest), None)


def digest_of(known: dict[str, str], fragment: str) -> str:
    return next(d for text, d in known.items() if fragment in text)


@contextlib.contextmanager
def consumers(server: MariaDbServer, names: list[str], enabled: bool) -> Iterator[None]:
    listed = ", ".join(f"'{n}'" for n in names)
    server.sql(f"UPDATE performance_schema.setup_consumers SET ENABLED = "
               f"'{'YES' if enabled else 'NO'}' WHERE NAME IN ({listed})")
    try:
        yield
    finally:
        server.sql(f"UPDATE performance_schema.setup_consumers SET ENABLED = "
                   f"'{'NO' if enabled else 'YES'}' WHERE NAME IN ({listed})")


def test_two_polls_give_call_deltas_per_digest(
    mariadb_server: MariaDbServer, shop: str, collector_for: Any
) -> None:
    collector = collector_for(shop, plan_capture=False)
    run(mariadb_server, shop, LOOKUP, [1, 2, 3])
    first = collector.collect(T0)
    assert first.health.first_poll and first.samples == ()
    known = by_text(first, {})
    run(mariadb_server, shop, LOOKUP, [4, 5])
    run(mariadb_server, shop, TOTALS, [10, 20, 30, 40])
    second = collector.collect(T0 + STEP)
    known = by_text(second, known)
    lookup = sample(second, digest_of(known, "`customer_id` = ?"))
    totals = sample(second, digest_of(known, "`customer_id` < ?"))
    assert lookup is not None and totals is not None
    assert (lookup.calls, totals.calls) == (2, 4)
    assert lookup.ref.database == shop and len(lookup.ref.query_id) == 32
    assert lookup.ref.fingerprint and lookup.ref.fingerprint != totals.ref.fingerprint
    assert lookup.interval_start == T0 and lookup.interval_end == T0 + STEP
    assert lookup.total_ms > 0 and lookup.rows == 2
    assert totals.extras.get("rows_examined", 0) > 0
    assert second.health.max_entries and second.health.entries > 0
    third = collector.collect(T0 + 2 * STEP)
    assert sample(third, lookup.ref.query_id) is None  # nothing ran: no sample


def test_own_statements_never_become_samples(
    mariadb_server: MariaDbServer, shop: str, collector_for: Any
) -> None:
    # The server is shared by the session: digests of earlier tests (their schemas dropped
    # since) would take this unfiltered collector's plan-capture budget ("Unknown database").
    for table in ("events_statements_summary_by_digest", "events_statements_history_long"):
        mariadb_server.sql(f"TRUNCATE TABLE performance_schema.{table}")
    collector = collector_for(shop, url=mariadb_server.url())  # no schema filter: all of them
    run(mariadb_server, shop, LOOKUP, [1, 2])
    known = by_text(collector.collect(T0), {})
    run(mariadb_server, shop, LOOKUP, [3])
    second = collector.collect(T0 + STEP)  # the plan capture (history read, USE, EXPLAIN) runs
    known = by_text(second, known)
    third = collector.collect(T0 + 2 * STEP)
    known = by_text(third, known)
    assert collector.explains >= 1
    ours = [t for t in known if "performance_schema" in t or t.startswith(
        ("EXPLAIN", "SHOW GLOBAL STATUS", "SET SESSION", "SELECT @@`version`"))]
    assert ours == []
    texts = {d: t for t, d in known.items()}
    assert all(s.ref.query_id in texts for s in (*second.samples, *third.samples))
    assert any("`customer_id` = ?" in texts[s.ref.query_id] for s in second.samples)


def test_truncate_between_polls_gives_no_samples_and_reports_reset(
    mariadb_server: MariaDbServer, shop: str, collector_for: Any
) -> None:
    collector = collector_for(shop, plan_capture=False)
    run(mariadb_server, shop, LOOKUP, [1, 2, 3])
    known = by_text(collector.collect(T0), {})
    mariadb_server.sql("TRUNCATE TABLE performance_schema.events_statements_summary_by_digest")
    run(mariadb_server, shop, LOOKUP, [4])
    after = collector.collect(T0 + STEP)
    assert after.samples == ()
    assert after.health.reset and not after.health.restarted
    run(mariadb_server, shop, LOOKUP, [5, 6])
    resumed = collector.collect(T0 + 2 * STEP)
    lookup = sample(resumed, digest_of(known, "`customer_id` = ?"))
    assert lookup is not None and lookup.calls == 2
    assert not resumed.health.reset


def test_plan_captured_then_recaptured_after_drop_index(
    mariadb_server: MariaDbServer, shop: str, collector_for: Any
) -> None:
    collector = collector_for(shop)
    run(mariadb_server, shop, LOOKUP, [1])
    first = collector.collect(T0)
    known = by_text(first, {})
    digest = digest_of(known, "`customer_id` = ?")
    plan = next(p for p in first.plans if p.ref.query_id == digest)
    assert plan.ref.database == shop
    assert '"index":"orders_customer_idx"' in plan.plan_json and plan.raw.startswith("{")
    mariadb_server.sql("DROP INDEX orders_customer_idx ON orders", db=shop)
    run(mariadb_server, shop, LOOKUP, [2, 3])
    collector.request_plans([PlanRequest(plan.ref.target, plan.ref.database, digest, T0)])
    second = collector.collect(T0 + STEP)
    again = next(p for p in second.plans if p.ref.query_id == digest)
    assert again.plan_hash != plan.plan_hash
    assert '"op":"ALL"' in again.plan_json
    lookup = sample(second, digest)
    assert lookup is not None and lookup.plan_hash == again.plan_hash  # captured in this poll
    run(mariadb_server, shop, LOOKUP, [4])
    third = collector.collect(T0 + 2 * STEP)
    latest = sample(third, digest)
    assert latest is not None and latest.plan_hash == again.plan_hash


def test_without_history_consumers_no_plans_and_one_warning(
    mariadb_server: MariaDbServer, shop: str, collector_for: Any
) -> None:
    collector = collector_for(shop)
    with consumers(mariadb_server, ["events_statements_history_long",
                                    "events_statements_history"], enabled=False):
        run(mariadb_server, shop, LOOKUP, [1])
        first = collector.collect(T0)
        run(mariadb_server, shop, LOOKUP, [2])
        second = collector.collect(T0 + STEP)
    assert first.plans == () and second.plans == ()
    assert any("events_statements_history_long" in w for w in first.health.warnings)
    assert second.health.warnings == ()


def test_digest_consumer_off_is_fatal_with_the_fix(
    mariadb_server: MariaDbServer, shop: str, collector_for: Any
) -> None:
    collector = collector_for(shop)
    with consumers(mariadb_server, ["statements_digest"], enabled=False), \
            pytest.raises(CollectorError) as caught:
        collector.collect(T0)
    assert caught.value.fatal
    assert "UPDATE performance_schema.setup_consumers SET ENABLED = 'YES'" in str(caught.value)
    assert "'statements_digest'" in str(caught.value)


def test_session_is_read_only_and_time_bounded(shop: str, collector_for: Any) -> None:
    collector = collector_for(shop, command_timeout=timedelta(seconds=7))
    conn = collector.connection()
    with conn.cursor() as cur:
        cur.execute("SELECT @@session.max_statement_time AS t, @@session.tx_read_only AS ro")
        row = cur.fetchone()
        assert float(row["t"]) == 7.0 and int(row["ro"]) == 1
        with pytest.raises(pymysql.err.MySQLError) as caught:
            cur.execute(f"INSERT INTO {shop}.orders VALUES (999999, 1, 1)")
        assert "READ ONLY" in str(caught.value).upper()
        cur.execute(
            "SELECT ATTR_VALUE AS v FROM performance_schema.session_connect_attrs "
            "WHERE PROCESSLIST_ID = CONNECTION_ID() AND ATTR_NAME = 'program_name'")
        assert cur.fetchone()["v"] == "planwatch"


def test_bad_credentials_fail_clearly_without_the_password(
    mariadb_server: MariaDbServer, shop: str, collector_for: Any
) -> None:
    mariadb_server.sql("CREATE USER IF NOT EXISTS 'pw_mon'@'127.0.0.1' IDENTIFIED BY 'right'")
    url = f"mysql://pw_mon:Wr0ngPa55@127.0.0.1:{mariadb_server.port}/{shop}"
    collector = collector_for(shop, url=url)
    with pytest.raises(CollectorError) as caught:
        collector.collect(T0)
    assert caught.value.fatal and not isinstance(caught.value, TargetUnreachable)
    message = str(caught.value)
    assert "authentication failed for user pw_mon" in message and "Wr0ngPa55" not in message


def test_unreachable_port_is_target_unreachable(collector_for: Any) -> None:
    url = f"mysql://root:s3cret@127.0.0.1:{pgcluster.free_port()}/x"
    collector = collector_for("x", url=url, connect_timeout=timedelta(seconds=2))
    with pytest.raises(TargetUnreachable) as caught:
        collector.collect(T0)
    assert "127.0.0.1" in str(caught.value) and "s3cret" not in str(caught.value)


def test_missing_privilege_names_the_grant(
    mariadb_server: MariaDbServer, shop: str, collector_for: Any
) -> None:
    mariadb_server.sql("CREATE USER IF NOT EXISTS 'pw_nopriv'@'127.0.0.1' IDENTIFIED BY 'pw'")
    collector = collector_for(
        shop, url=f"mysql://pw_nopriv:pw@127.0.0.1:{mariadb_server.port}/")
    with pytest.raises(CollectorError) as caught:
        collector.collect(T0)
    assert caught.value.fatal
    assert "GRANT SELECT ON performance_schema.* TO pw_nopriv" in str(caught.value)


@pytest.fixture(scope="module")
def server_without_ps() -> Iterator[MariaDbServer]:
    with mariadbserver.running_server({"performance-schema": "OFF"}) as server:
        yield server


def test_performance_schema_off_is_fatal_with_the_setting(
    server_without_ps: MariaDbServer, collector_for: Any
) -> None:
    collector = collector_for("", url=server_without_ps.url())
    with no_resource_warnings(), pytest.raises(CollectorError) as caught:
        collector.collect(T0)  # the session that found it off is closed, not dropped
    assert caught.value.fatal
    assert str(caught.value) == f"maria: {mysql_session.PERFORMANCE_SCHEMA_OFF}"
    assert "performance_schema=ON under [mysqld]" in str(caught.value)


@pytest.fixture(scope="module")
def tiny_digest_table() -> Iterator[MariaDbServer]:
    with mariadbserver.running_server({"performance-schema-digests-size": "40"}) as server:
        yield server


def test_digest_table_overflow_is_reported_like_evictions(
    tiny_digest_table: MariaDbServer, collector_for: Any
) -> None:
    server = tiny_digest_table
    server.sql("CREATE DATABASE IF NOT EXISTS full_shop")
    server.sql("CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY, a INT, b INT)", db="full_shop")
    collector = collector_for("full_shop", url=server.url("full_shop"), plan_capture=False)
    first = collector.collect(T0)
    with contextlib.closing(server.connect("full_shop")) as conn, conn.cursor() as cur:
        for i in range(60):  # 60 distinct statement shapes: more than the 40 rows
            cur.execute(f"SELECT {', '.join(['a'] * (i + 1))} FROM t WHERE id = 1")
    second = collector.collect(T0 + STEP)
    assert first.health.max_entries == 40
    assert second.health.evicted > 0 and not second.health.reset
    assert any("performance_schema_digests_size" in w for w in second.health.warnings)
    assert all(s.calls > 0 for s in second.samples)  # statements that kept a digest still count


def _lock_waits(server: MariaDbServer, schema: str) -> int:
    [(n,)] = server.sql("SELECT COUNT(*) FROM information_schema.innodb_trx"
                        " WHERE trx_state = 'LOCK WAIT'", schema)
    return int(n)


def test_row_lock_waits_are_attributed_to_the_waiting_digest(
    mariadb_server: MariaDbServer, shop: str, collector_for: Any
) -> None:
    """A transaction holds a row; another session's UPDATE of it waits: the snapshot at the
    next poll says so, and the observation rides on the digest's next sample."""
    update = "UPDATE orders SET total = total + 1 WHERE id = {}"
    collector = collector_for(shop, plan_capture=False)
    run(mariadb_server, shop, update, [1])
    known = by_text(collector.collect(T0), {})
    digest = digest_of(known, "UPDATE `orders`")
    holder = mariadb_server.connect(shop)
    try:
        with holder.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute(update.format(1))
        victim = threading.Thread(target=run, args=(mariadb_server, shop, update, [1]),
                                  daemon=True)
        victim.start()
        wait_until(lambda: _lock_waits(mariadb_server, shop), 30, what="the UPDATE to wait")
        during = collector.collect(T0 + STEP)
    finally:
        holder.commit()
        holder.close()
    victim.join(30)
    after = collector.collect(T0 + 2 * STEP)
    seen = [s for s in (*during.samples, *after.samples) if s.ref.query_id == digest]
    assert [s.extras["activity"] for s in seen if "activity" in s.extras] == [
        {"Lock/row lock": 1}]


def test_a_new_collector_measures_from_a_stored_snapshot(
    mariadb_server: MariaDbServer, shop: str, collector_for: Any
) -> None:
    """The snapshot survives the collector (another worker, a restart): no interval lost."""
    first = collector_for(shop, plan_capture=False)
    run(mariadb_server, shop, LOOKUP, [1])
    known = by_text(first.collect(T0), {})
    saved = first.saved_state()
    assert saved is not None and saved.measured_from is None and saved.at == T0
    run(mariadb_server, shop, LOOKUP, [2, 3])
    second = collector_for(shop, plan_capture=False)
    assert second.wants_state()
    second.restore(saved.data)
    result = second.collect(T0 + STEP)
    lookup = sample(result, digest_of(known, "FROM `orders` WHERE `customer_id`"))
    assert lookup is not None and (lookup.interval_start, lookup.calls) == (T0, 2)

"""Generic-plan capture on PostgreSQL 16 (EXPLAIN (GENERIC_PLAN)) against 15 (PREPARE path).

The PostgreSQL 16 server comes from the `pgserver` wheel (PyPI; core server only, no
contrib, so no pg_stat_statements): enough to prove the 16+ capture path live and that both
paths give the same shape hash for the same statement and schema.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from planwatch.collectors import pg_capture, pg_plans, pg_session
from planwatch.config.settings import Secret, TargetSettings
from planwatch.devtools import pgcluster
from planwatch.model.samples import QueryRef

pytestmark = pytest.mark.integration

SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY, region text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, total numeric NOT NULL);
INSERT INTO customers SELECT g, 'r' || (g % 7) FROM generate_series(1, 2000) g;
INSERT INTO orders SELECT g, 1 + g % 2000, g % 500 FROM generate_series(1, 40000) g;
CREATE INDEX orders_customer_idx ON orders (customer_id);
ANALYZE;
"""
STATEMENTS = (
    "SELECT id, total FROM orders WHERE customer_id = $1",
    "SELECT count(*) FROM orders WHERE total > $1",
    "SELECT c.region, sum(o.total) FROM orders o JOIN customers c ON c.id = o.customer_id "
    "WHERE c.region = $1 GROUP BY c.region",
    "SELECT id FROM orders ORDER BY id LIMIT $1",
)
REF = QueryRef("t", "shop", "1", "f")


@pytest.fixture(scope="module")
def pg16() -> Iterator[pgcluster.PgCluster]:
    spec = importlib.util.find_spec("pgserver")  # found, not imported (its import warns)
    assert spec is not None and spec.submodule_search_locations, "pip install pgserver (dev extra)"
    bindir = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
    cluster = pgcluster.start_cluster(bindir=bindir, stat_statements=False)
    try:
        yield cluster
    finally:
        cluster.cleanup()


def _shop(cluster: pgcluster.PgCluster, name: str) -> str:
    cluster.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    cluster.psql(f"CREATE DATABASE {name}")
    cluster.psql(SCHEMA, name)
    return name


def _capture(cluster: pgcluster.PgCluster, db: str, text: str) -> tuple[str, int, int]:
    """(plan hash, server version, prepared statements left) through the collector's session."""
    target = TargetSettings(name="t", engine="postgresql", dsn=Secret(cluster.dsn(db)))
    with pg_session.connect(target, pg_session.parse_dsn(target)) as conn:
        version = conn.info.server_version
        doc = pg_capture.explain(conn, text, version).doc
        left = conn.execute("SELECT count(*) AS n FROM pg_prepared_statements").fetchone()
    plan = pg_plans.capture(REF, doc, datetime.now(UTC))
    return plan.plan_hash, version, int(left["n"]) if left else -1


def test_both_capture_paths_hash_the_same_plan_shape(
    pg16: pgcluster.PgCluster, pg_cluster: pgcluster.PgCluster
) -> None:
    new, old = _shop(pg16, "shop16"), _shop(pg_cluster, "shop15")
    try:
        for text in STATEMENTS:
            h16, v16, left16 = _capture(pg16, new, text)
            h15, v15, left15 = _capture(pg_cluster, old, text)
            assert v16 >= 160000 > v15
            assert h16 == h15, text
            assert left16 == left15 == 0  # GENERIC_PLAN prepares nothing; PREPARE is released
    finally:
        pg_cluster.psql(f"DROP DATABASE IF EXISTS {old} WITH (FORCE)")


def test_generic_plan_on_16_sees_a_dropped_index(pg16: pgcluster.PgCluster) -> None:
    db = _shop(pg16, "shop16b")
    before, _, _ = _capture(pg16, db, STATEMENTS[0])
    pg16.psql("DROP INDEX orders_customer_idx", db)
    after, _, _ = _capture(pg16, db, STATEMENTS[0])
    assert before != after

"""No interval lost when a target changes hands: the snapshot a poll measured up to is stored
with its samples, and the next poll — another worker's, or after a restart — measures from it.
A poll from a snapshot storage has moved past writes nothing (compare and set)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from planwatch.collectors import snapshot_codec
from planwatch.collectors.postgres import PostgresCollector
from planwatch.config.settings import Secret, TargetSettings
from planwatch.devtools.pgcluster import PgCluster
from planwatch.storage import collector_state, samples
from planwatch.storage.engine import Storage

pytestmark = [pytest.mark.integration,
              pytest.mark.parametrize("storage_url", ["sqlite"], indirect=True)]

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=1)
LOOKUP = "SELECT count(*) FROM orders WHERE customer_id = %s"


@pytest.fixture
def shop(pg_cluster: PgCluster, pg_database: str) -> str:
    pg_cluster.psql("CREATE EXTENSION pg_stat_statements;"
                    "CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL);"
                    "INSERT INTO orders SELECT g, g % 50 FROM generate_series(1, 2000) g;",
                    pg_database)
    return pg_database


def collector(cluster: PgCluster, db: str) -> PostgresCollector:
    return PostgresCollector(TargetSettings(name="shop", engine="postgresql",
                                            dsn=Secret(cluster.dsn(db)), plan_capture=False))


def calls(cluster: PgCluster, db: str, n: int) -> None:
    with psycopg.connect(cluster.dsn(db), autocommit=True) as conn:
        for i in range(n):
            conn.execute(LOOKUP, (i,))


def poll(c: PostgresCollector, st: Storage, at: datetime) -> int | None:
    """What the collection job does: restore when new, poll, store with the snapshot."""
    if c.wants_state() and (data := collector_state.load(st, "shop")) is not None:
        c.restore(data)
    result = c.collect(at)
    saved = c.saved_state()
    assert saved is not None
    return collector_state.store_poll(st, "shop", result.samples,
                                      measured_from=saved.measured_from, at=saved.at,
                                      state=saved.data)


def _lookup(st: Storage) -> list[tuple[datetime, datetime, int]]:
    """The stored intervals (the workload's one statement is all the database ran)."""
    found = samples.window(st, "shop", T0 - STEP, T0 + 10 * STEP)
    return sorted((s.interval_start, s.interval_end, s.calls) for s in found)


def test_a_new_worker_measures_from_the_stored_snapshot(
    pg_cluster: PgCluster, shop: str, storage: Storage
) -> None:
    first = collector(pg_cluster, shop)
    assert poll(first, storage, T0) == 0  # the first poll ever: only a snapshot
    calls(pg_cluster, shop, 3)
    assert poll(first, storage, T0 + STEP) is not None
    first.close()  # the worker dies; its successor knows nothing but storage
    calls(pg_cluster, shop, 5)
    second = collector(pg_cluster, shop)
    assert poll(second, storage, T0 + 2 * STEP) is not None
    intervals = [(start, end) for start, end, _ in _lookup(storage)]
    assert intervals == [(T0, T0 + STEP), (T0 + STEP, T0 + 2 * STEP)]  # contiguous
    assert [n for *_, n in _lookup(storage)] == [3, 5]
    second.close()


def test_a_poll_from_a_snapshot_storage_moved_past_writes_nothing(
    pg_cluster: PgCluster, shop: str, storage: Storage
) -> None:
    a, b = collector(pg_cluster, shop), collector(pg_cluster, shop)
    poll(a, storage, T0)
    poll(b, storage, T0 + STEP)  # b restores a's snapshot and advances storage
    calls(pg_cluster, shop, 2)
    assert poll(a, storage, T0 + 2 * STEP) is None  # a measured from T0: refused
    assert poll(b, storage, T0 + 3 * STEP) is not None
    assert [(s, e, n) for s, e, n in _lookup(storage)] == [(T0 + STEP, T0 + 3 * STEP, 2)]
    a.close()
    b.close()


def test_snapshots_round_trip(pg_cluster: PgCluster, shop: str, storage: Storage) -> None:
    c = collector(pg_cluster, shop)
    calls(pg_cluster, shop, 1)
    poll(c, storage, T0)
    data = collector_state.load(storage, "shop")
    assert data is not None
    snap = snapshot_codec.decode_pg(data)
    assert snap.at == T0 and len(snap.counters.keys) > 0
    assert snapshot_codec.decode_pg(snapshot_codec.encode_pg(snap)).counters.keys == \
        snap.counters.keys
    with pytest.raises(ValueError, match="not a mysql snapshot"):
        snapshot_codec.decode_mysql(data)
    c.close()

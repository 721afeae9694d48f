"""Samples partitioned by day on PostgreSQL (migration 0006, partitions ahead, retention by
whole days) and SQLite's incremental vacuum."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from planwatch.clock import utcnow
from planwatch.devtools.pgcluster import PgCluster
from planwatch.model.samples import QueryRef, QuerySample
from planwatch.storage import maintenance, partitions, retention, samples
from planwatch.storage.engine import Storage, alembic_config
from planwatch.storage.tables import query_samples, query_samples_hourly

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)


@pytest.fixture
def pg(pg_cluster: PgCluster, pg_database: str) -> Iterator[Storage]:
    st = Storage.open(pg_cluster.url(pg_database))
    try:
        yield st
    finally:
        st.close()


def day_samples(day: datetime, queries: int = 3, every_min: int = 60) -> list[QuerySample]:
    """One sample per query every `every_min` minutes over `day`, 2 calls of 1 ms each."""
    steps = range(0, 24 * 60, every_min)
    return [QuerySample(QueryRef("orders-db", "shop", f"q{q}", f"f{q}"),
                        day + timedelta(minutes=m), day + timedelta(minutes=m + every_min),
                        2, 2.0)
            for m in steps for q in range(queries)]


def where_rows_are(st: Storage) -> dict[str, int]:
    """Rows per partition (the table each row physically lives in)."""
    with st.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT tableoid::regclass::text, count(*) FROM query_samples GROUP BY 1")).all()
    return {name: n for name, n in rows}


def totals(st: Storage) -> tuple[int, int, int]:
    """(raw rows, raw calls, calls rolled up into hourly rows)."""
    with st.connect() as conn:
        raw = conn.execute(sa.select(sa.func.count(), sa.func.sum(query_samples.c.calls))).one()
        rolled = conn.execute(sa.select(sa.func.sum(query_samples_hourly.c.calls))).scalar()
    return int(raw[0]), int(raw[1] or 0), int(rolled or 0)


def migrate_to(st: Storage, revision: str, *, down: bool = False) -> None:
    cfg = alembic_config()
    with st.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def test_existing_samples_survive_partitioning_and_expire_with_their_partition(
    pg: Storage,
) -> None:
    today = partitions.day_floor(utcnow())
    migrate_to(pg, "0003")
    old = day_samples(today - 40 * DAY) + day_samples(today - 3 * DAY)
    samples.insert(pg, old)
    before = totals(pg)
    assert not partitions.partitioned(pg)

    pg.migrate()  # 0006: the old table becomes one partition, nothing is copied

    assert partitions.partitioned(pg)
    assert totals(pg) == before
    assert where_rows_are(pg) == {"query_samples_legacy": len(old)}
    with pg.connect() as conn:
        listed = {p.name: p for p in partitions.listing(conn)}
    legacy = listed["query_samples_legacy"]
    assert (legacy.lower, legacy.upper) == (None, today - 2 * DAY)
    assert listed["query_samples_default"].default
    ahead = [partitions.day_name(today + i * DAY) for i in range(partitions.AHEAD_DAYS + 1)]
    assert set(ahead) <= set(listed)
    samples.insert(pg, day_samples(today, queries=1, every_min=360))
    assert where_rows_are(pg)[partitions.day_name(today)] == 4  # today's writes: today's day

    # Downgrade and upgrade again: still every row.
    migrate_to(pg, "0003", down=True)
    assert not partitions.partitioned(pg) and totals(pg)[:2] == (len(old) + 4, 2 * (len(old) + 4))
    pg.migrate()
    assert totals(pg)[:2] == (len(old) + 4, 2 * (len(old) + 4))

    # Retention: the pre-partitioning rows past their days go row by row (rolled up) while
    # the old table still holds newer ones; the table itself goes once all of it expired.
    # (After the round trip above the old table holds today's rows too: it ends tomorrow.)
    first = retention.purge(pg, "samples", today - 30 * DAY, batch_size=50)
    assert (first.rows, first.partitions) == (len(old) // 2, 0)
    later = retention.purge(pg, "samples", today + 2 * DAY, batch_size=50)
    assert later.partitions >= 2  # the old table and today's partition, dropped whole
    assert later.rows == len(old) // 2 + 4 and later.batches == 1
    assert totals(pg) == (0, 0, 2 * (len(old) + 4))  # every call is in the hourly roll-up
    with pg.connect() as conn:
        assert "query_samples_legacy" not in {p.name for p in partitions.listing(conn)}


def test_partitions_ahead_stray_rows_and_whole_day_retention(pg: Storage) -> None:
    pg.migrate()
    now = utcnow()
    later = now + 20 * DAY
    done = maintenance.run(pg, later)  # the weekly job keeps two weeks ready
    assert done["partitions_created"] == [
        partitions.day_name(partitions.day_floor(later) + i * DAY)
        for i in range(partitions.AHEAD_DAYS + 1)]
    assert "query_samples" in done["vacuum_analyze"]

    # A day nobody created in time: the write still succeeds (default partition) ...
    lost_day = datetime(2026, 1, 10, tzinfo=UTC)
    samples.insert(pg, day_samples(lost_day) + day_samples(lost_day + DAY))
    assert where_rows_are(pg) == {"query_samples_default": 2 * 72}
    # ... and the next maintenance moves the rows into their own days.
    created = partitions.ensure(pg, now)
    assert created == [partitions.day_name(lost_day), partitions.day_name(lost_day + DAY)]
    assert where_rows_are(pg) == {partitions.day_name(lost_day): 72,
                                  partitions.day_name(lost_day + DAY): 72}

    # Retention drops a day once all of it has expired, never part of a day.
    done_r = retention.purge(pg, "samples", lost_day + DAY + timedelta(hours=12), batch_size=10)
    assert (done_r.partitions, done_r.rows, done_r.batches) == (1, 72, 1)
    assert where_rows_are(pg) == {partitions.day_name(lost_day + DAY): 72}
    assert totals(pg) == (72, 144, 144)
    with pg.connect() as conn:
        hourly = conn.execute(sa.select(sa.func.count()).select_from(query_samples_hourly)
                              ).scalar_one()
    assert hourly == 24 * 3  # one row per query and hour of the dropped day


def test_sqlite_incremental_vacuum_returns_free_pages(tmp_path: Path) -> None:
    st = Storage.open(f"sqlite:///{tmp_path / 'pw.db'}")
    try:
        st.migrate()
        with st.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2  # incremental
        day = datetime(2026, 1, 10, tzinfo=UTC)
        samples.insert(st, day_samples(day, queries=200, every_min=5))
        maintenance.run(st, day)  # checkpoint: the samples are in the main file
        full = (tmp_path / "pw.db").stat().st_size
        purged = retention.purge(st, "samples", day + 2 * DAY, batch_size=5000)
        assert purged.rows == 200 * 288
        done = maintenance.run(st, day + DAY)
        assert done["auto_vacuum"] == "incremental"
        assert done["free_pages_before"] > 1000 and done["free_pages_after"] == 0
        assert (tmp_path / "pw.db").stat().st_size < full / 2  # returned to the file system
    finally:
        st.close()


def test_sqlite_database_created_before_auto_vacuum_keeps_working(tmp_path: Path) -> None:
    """auto_vacuum can only be chosen before the first table: an older database stays
    `none` (free pages are reused, not returned) and maintenance says so."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE t (x)")
        raw.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 2000)
        raw.execute("DELETE FROM t")
    st = Storage.open(f"sqlite:///{path}")
    try:
        st.migrate()
        done = maintenance.run(st, utcnow())
        assert done["auto_vacuum"] == "none" and done["free_pages_after"] > 0
        assert "docs/operations.md" in done["hint"]
    finally:
        st.close()

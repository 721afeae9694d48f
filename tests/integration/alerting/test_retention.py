"""Retention on a storage seeded with a million samples, while collection keeps writing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from planwatch.config.settings import RetentionSettings
from planwatch.jobs import retention as retention_job
from planwatch.model.samples import QueryRef, QuerySample
from planwatch.storage import maintenance, retention, samples
from planwatch.storage.engine import Storage
from planwatch.storage.tables import query_samples, query_samples_hourly, to_db

pytestmark = pytest.mark.integration

QUERIES, INTERVALS = 1000, 1000  # one million samples, one every 5 minutes per query
EXPIRED = 863  # intervals ending before the cutoff (3 days of 5-minute intervals, less one)
STEP_S = 300
BASE = datetime(2026, 1, 1, tzinfo=UTC)


def seed(st: Storage) -> None:
    """Generate the samples inside the database (seconds, not minutes, to load)."""
    with st.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO queries (target, database, query_id, fingerprint, text, first_seen,"
            " last_seen) VALUES (:t, 'shop', :q, :q, NULL, :at, :at)"),
            [{"t": "orders-db", "q": f"q{i}", "at": to_db(BASE, st.dialect)}
             for i in range(QUERIES)])
        cols = ("query_pk, interval_start, interval_end, plan_hash, calls, total_ms, mean_ms,"
                " rows, blks_hit, blks_read, blks_temp, extras")
        if st.dialect == "sqlite":
            fmt = "'%Y-%m-%d %H:%M:%S.000000'"
            conn.exec_driver_sql(
                f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n"
                f" WHERE i < {INTERVALS - 1})"
                f" INSERT INTO query_samples ({cols})"
                f" SELECT q.id,"
                f" strftime({fmt}, '2026-01-01', '+' || (n.i * {STEP_S}) || ' seconds'),"
                f" strftime({fmt}, '2026-01-01', '+' || ((n.i + 1) * {STEP_S}) || ' seconds'),"
                f" 'h1', 10, 5.0, 0.5, 10, 0, 0, 0, NULL FROM queries q, n")
        else:
            conn.exec_driver_sql(
                f"INSERT INTO query_samples ({cols})"
                f" SELECT q.id, '2026-01-01 00:00+00'::timestamptz + g * interval '{STEP_S} s',"
                f" '2026-01-01 00:00+00'::timestamptz + (g + 1) * interval '{STEP_S} s',"
                f" 'h1', 10, 5.0, 0.5, 10, 0, 0, 0, NULL"
                f" FROM queries q CROSS JOIN generate_series(0, {INTERVALS - 1}) g")


def count(st: Storage, *where: sa.ColumnElement[bool]) -> int:
    with st.connect() as conn:
        return int(conn.execute(
            sa.select(sa.func.count()).select_from(query_samples).where(*where)).scalar_one())


@pytest.mark.slow
def test_retention_deletes_a_million_samples_in_batches_while_collection_writes(
    storage_url: str,
) -> None:
    st = Storage.open(storage_url)
    try:
        st.migrate()
        seed(st)
        assert count(st) == QUERIES * INTERVALS
        # Midnight: PostgreSQL keeps a day of samples until all of it has expired.
        cutoff = BASE + timedelta(days=3)  # 863 of the 1000 intervals end before it
        written: list[int] = []
        errors: list[BaseException] = []
        stop = threading.Event()

        def collect() -> None:
            start = BASE + timedelta(days=30)
            i = 0
            while not stop.is_set() or i < 20:
                at = start + timedelta(minutes=5 * i)
                batch = [QuerySample(QueryRef("orders-db", "shop", f"q{k}", f"q{k}"), at,
                                     at + timedelta(minutes=5), 3, 1.5) for k in range(200)]
                try:
                    written.append(samples.insert(st, batch))
                except BaseException as exc:
                    errors.append(exc)
                    return
                i += 1

        writer = threading.Thread(target=collect)
        writer.start()
        try:
            done = retention.purge(st, "samples", cutoff, batch_size=5000, pause_s=0.005)
        finally:
            stop.set()
            writer.join(120)

        assert errors == []
        assert done.rows == QUERIES * EXPIRED and done.batches > 100
        assert count(st, query_samples.c.interval_end < cutoff) == 0
        kept_old = count(st, query_samples.c.interval_end >= cutoff,
                         query_samples.c.interval_start < BASE + timedelta(days=30))
        assert kept_old == QUERIES * (INTERVALS - EXPIRED)
        with st.connect() as conn:
            rolled = conn.execute(sa.select(sa.func.sum(query_samples_hourly.c.samples),
                                            sa.func.sum(query_samples_hourly.c.calls))).one()
        # nothing lost, nothing counted twice
        assert tuple(rolled) == (QUERIES * EXPIRED, QUERIES * EXPIRED * 10)
        new = count(st, query_samples.c.interval_start >= BASE + timedelta(days=30))
        assert new == sum(written) and len(written) >= 20
        assert maintenance.run(st, BASE)  # VACUUM / PRAGMA optimize after the purge
    finally:
        st.close()


def test_retention_job_uses_each_kinds_days(storage_url: str) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    cfg = RetentionSettings(samples_days=30, check_results_days=10, job_runs_days=14,
                            resolved_alerts_days=180, batch_size=7)
    cut = retention_job.cutoffs(cfg, now)
    assert cut["samples"] == now - timedelta(days=30)
    assert cut["check_results"] == now - timedelta(days=10)
    assert cut["worker_metrics"] == cut["job_runs"] == now - timedelta(days=14)
    assert cut["resolved_alerts"] == cut["notifications"] == now - timedelta(days=180)

    st = Storage.open(storage_url)
    try:
        st.migrate()
        ref = QueryRef("orders-db", "shop", "1", "f1")
        old, new = now - timedelta(days=31), now - timedelta(days=29)
        samples.insert(st, [QuerySample(ref, t + timedelta(minutes=m), t + timedelta(minutes=m + 5),
                                        1, 1.0) for t in (old, new) for m in range(0, 100, 5)])
        done = {p.kind: p for p in retention_job.clean(st, cfg, now)}
        assert done["samples"].rows == 20 and done["samples"].batches == 3
        assert count(st) == 20
        # the expired samples were rolled up per UTC hour (12 + 8 five-minute samples),
        # across batches of 7: partial hours add up
        h = query_samples_hourly
        with st.connect() as conn:
            rolled = conn.execute(sa.select(h.c.hour_start, h.c.samples, h.c.calls,
                                            h.c.total_ms).order_by(h.c.hour_start)).all()
        assert [tuple(r) for r in rolled] == [(old, 12, 12, 12.0),
                                              (old + timedelta(hours=1), 8, 8, 8.0)]
        later = {p.kind: p for p in retention_job.clean(st, cfg, now + timedelta(days=400))}
        assert later["samples"].rows == 20 and later["samples_hourly"].rows == 4
        assert count(st) == 0
        with pytest.raises(ValueError, match="unknown retention kind"):
            retention.delete_batch(st, "everything", now, 10)
        done_m = maintenance.run(st, now)
        if st.dialect == "postgresql":
            assert set(done_m["vacuum_analyze"]) >= {"query_samples", "alerts", "silences"}
        else:
            assert done_m["optimize"] is True and done_m["auto_vacuum"] == "incremental"
    finally:
        st.close()

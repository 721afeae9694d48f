"""Benchmark: retention deleting 1 million expired samples in batches while collection writes.

Seeds 1,000 queries x 1,000 five-minute intervals (generated inside the database), expires
900,000 of them and runs `storage.retention.purge` with the default batch size (5,000), while
a thread keeps inserting fresh samples the way the collection job does (200 rows per
transaction). Reports the purge's total time, rows/s, its longest single transaction, and
the writer's slowest insert (how long collection waited at worst).
Run: .venv/bin/python bench/retention.py [--postgresql] [--batch-size 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import common
import sqlalchemy as sa

from planwatch.devtools import pgcluster
from planwatch.model.samples import QueryRef, QuerySample
from planwatch.storage import maintenance, retention, samples
from planwatch.storage.engine import Storage
from planwatch.storage.tables import to_db

QUERIES, INTERVALS, STEP_S = 1000, 1000, 300
BASE = datetime(2026, 1, 1, tzinfo=UTC)


def seed(st: Storage) -> None:
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
                f" WHERE i < {INTERVALS - 1}) INSERT INTO query_samples ({cols})"
                f" SELECT q.id, strftime({fmt}, '2026-01-01', '+' || (n.i * {STEP_S})"
                f" || ' seconds'), strftime({fmt}, '2026-01-01', '+' || ((n.i + 1) * {STEP_S})"
                f" || ' seconds'), 'h1', 10, 5.0, 0.5, 10, 0, 0, 0, NULL FROM queries q, n")
        else:
            conn.exec_driver_sql(
                f"INSERT INTO query_samples ({cols})"
                f" SELECT q.id, '2026-01-01 00:00+00'::timestamptz + g * interval '{STEP_S} s',"
                f" '2026-01-01 00:00+00'::timestamptz + (g + 1) * interval '{STEP_S} s',"
                f" 'h1', 10, 5.0, 0.5, 10, 0, 0, 0, NULL"
                f" FROM queries q CROSS JOIN generate_series(0, {INTERVALS - 1}) g")


def run(name: str, url: str, batch_size: int) -> dict[str, Any]:
    st = Storage.open(url)
    st.migrate()
    try:
        t0 = time.perf_counter()
        seed(st)
        seeded_s = time.perf_counter() - t0
        cutoff = BASE + timedelta(seconds=STEP_S * 900 + 1)
        waits: list[float] = []
        stop = threading.Event()

        def collect() -> None:
            at = BASE + timedelta(days=30)
            while not stop.is_set():
                batch = [QuerySample(QueryRef("orders-db", "shop", f"q{k}", f"q{k}"), at,
                                     at + timedelta(minutes=5), 3, 1.5) for k in range(200)]
                w0 = time.perf_counter()
                samples.insert(st, batch)
                waits.append(time.perf_counter() - w0)
                at += timedelta(minutes=5)

        writer = threading.Thread(target=collect)
        writer.start()
        try:
            done = retention.purge(st, "samples", cutoff, batch_size=batch_size)
        finally:
            stop.set()
            writer.join()
        m0 = time.perf_counter()
        maintenance.run(st, BASE)
        return {
            "storage": name, "seed_s": seeded_s, "deleted": done.rows, "batches": done.batches,
            "total_s": done.seconds, "rows_per_s": done.rows / done.seconds,
            "longest_tx_s": done.longest_batch_s, "writes": len(waits),
            "writer_max_s": max(waits, default=0.0),
            "writer_median_s": common.median(waits), "maintenance_s": time.perf_counter() - m0,
        }
    finally:
        st.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=5000)
    p.add_argument("--postgresql", action="store_true", help="also on a throwaway PostgreSQL")
    p.add_argument("--json", help="write raw results here")
    args = p.parse_args()
    common.quiet_logs()
    cluster = pgcluster.start_cluster() if args.postgresql else None
    results = []
    try:
        print(common.machine(cluster))
        with tempfile.TemporaryDirectory() as tmp:
            results.append(run("sqlite", f"sqlite:///{Path(tmp) / 'r.db'}", args.batch_size))
        if cluster is not None:
            cluster.psql("CREATE DATABASE bench_retention")
            results.append(run("postgresql", cluster.url("bench_retention"), args.batch_size))
    finally:
        if cluster is not None:
            cluster.cleanup()
    headers = ["storage", "deleted", "batches", "total s", "rows/s", "longest tx s",
               "collection writes", "slowest write s", "median write s", "maintenance s"]
    keys = ["storage", "deleted", "batches", "total_s", "rows_per_s", "longest_tx_s", "writes",
            "writer_max_s", "writer_median_s", "maintenance_s"]
    print(common.table(headers, [[r[k] for k in keys] for r in results]))
    common.write_json(args.json, "retention", {"results": results})


if __name__ == "__main__":
    main()

"""Benchmark: storage bytes per query-day, raw and after the hourly roll-up, on both backends.

Writes one day of samples for `--queries` queries at the `--interval` collection interval
through `storage.samples.insert` (the collection job's write path, one batch per interval),
measures the sample table with its indexes, then runs retention past that day (hourly roll-up,
and on PostgreSQL the day partition dropped) and measures the roll-up table. Half of the queries
carry the extras a writing statement has (dirtied blocks, WAL), half none, as a read does.
Also measures a check result row (`check_results`), to compare how the two tables grow.

Sizes: PostgreSQL `pg_total_relation_size` summed over the partitions (heap, TOAST, indexes),
after VACUUM; SQLite the `dbstat` pages of the table and its indexes.
Run: .venv/bin/python bench/storage_bytes.py [--queries 200] [--interval 60] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime, timedelta
from typing import Any

import common
import sqlalchemy as sa

from planwatch.devtools import pgcluster
from planwatch.model.checks import CheckResult, CheckStatus
from planwatch.model.samples import QueryRef, QuerySample
from planwatch.storage import check_results, maintenance, partitions, retention, samples
from planwatch.storage.engine import Storage

DAY0 = datetime(2026, 1, 10, tzinfo=UTC)
WRITE_EXTRAS = {"shared_blks_dirtied": 3, "shared_blks_written": 1, "wal_bytes": 1874,
                "wal_records": 6}
CHECK_RESULTS = 20_000


def day_of_samples(st: Storage, queries: int, interval: timedelta) -> int:
    refs = [QueryRef("orders-db", "shop", str(-7_000_000_000_000_000_000 + 7919 * q),
                     f"fp{q:08x}") for q in range(queries)]
    steps = int(timedelta(days=1) / interval)
    for step in range(steps):
        start = DAY0 + interval * step
        samples.insert(st, [
            QuerySample(ref, start, start + interval, calls=40 + q % 17,
                        total_ms=12.5 + q % 5, rows=40 + q % 17, blks_hit=160 + q, blks_read=q % 3,
                        blks_temp=0, plan_hash=f"{q * 2654435761 % 2**64:016x}",
                        extras=WRITE_EXTRAS if q % 2 else {})
            for q, ref in enumerate(refs)])
    return queries * steps


def sizes(st: Storage, tables: list[str]) -> dict[str, int]:
    """Bytes on disk of each table with its indexes (and partitions)."""
    with st.connect() as conn:
        if st.dialect == "postgresql":
            return {t: int(conn.execute(sa.text(  # a plain table has no partition tree
                "SELECT coalesce((SELECT sum(pg_total_relation_size(relid))"
                " FROM pg_partition_tree(:t)), pg_total_relation_size(:t))"), {"t": t}
            ).scalar_one()) for t in tables}
        out = {}
        for t in tables:
            names = [t, *conn.execute(sa.text(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"),
                {"t": t}).scalars()]
            out[t] = int(conn.execute(sa.text(
                f"SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN "
                f"({', '.join(f':n{i}' for i in range(len(names)))})"),
                {f"n{i}": n for i, n in enumerate(names)}).scalar_one())
        return out


def vacuum(st: Storage) -> None:
    if st.dialect == "postgresql":
        with st.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM")
    else:
        maintenance.run(st, DAY0)


def run(name: str, url: str, queries: int, interval: timedelta) -> dict[str, Any]:
    st = Storage.open(url)
    st.migrate()
    try:
        partitions.ensure(st, DAY0, ahead=1)  # the day's own partition, as in production
        rows = day_of_samples(st, queries, interval)
        vacuum(st)
        raw = sizes(st, ["query_samples"])["query_samples"]
        done = retention.purge(st, "samples", DAY0 + timedelta(days=1, hours=1),
                               batch_size=5000)
        vacuum(st)
        rolled = sizes(st, ["query_samples_hourly"])["query_samples_hourly"]
        now = DAY0 + timedelta(days=1)
        check_results.insert(st, [
            CheckResult("orders_backlog", f"db-{i % 50}", CheckStatus.OK, "ok", now, 3.2,
                        float(i), None, (("queue", f"q{i % 7}"),))
            for i in range(CHECK_RESULTS)])
        vacuum(st)
        checks = sizes(st, ["check_results"])["check_results"]
    finally:
        st.close()
    return {
        "storage": name, "queries": queries, "rows": rows, "rows_purged": done.rows,
        "partitions_dropped": done.partitions,
        "raw_bytes_per_query_day": raw / queries,
        "raw_bytes_per_sample": raw / rows,
        "hourly_bytes_per_query_day": rolled / queries,
        "check_result_bytes": checks / CHECK_RESULTS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--interval", type=int, default=60, help="seconds between samples")
    parser.add_argument("--quick", action="store_true", help="smoke run (20 queries, 10 min)")
    parser.add_argument("--json", help="save the raw results here")
    args = parser.parse_args()
    common.quiet_logs()
    queries = 20 if args.quick else args.queries
    interval = timedelta(minutes=10) if args.quick else timedelta(seconds=args.interval)
    results = []
    with tempfile.TemporaryDirectory() as tmp, pgcluster.running_cluster() as cluster:
        print(common.machine(cluster))
        results.append(run("SQLite", f"sqlite:///{tmp}/pw.db", queries, interval))
        cluster.psql("CREATE DATABASE bench")
        results.append(run("PostgreSQL", cluster.url("bench"), queries, interval))
    columns = [("storage", "storage"), ("queries", "queries"), ("rows", "samples/day"),
               ("raw_bytes_per_sample", "B/sample"),
               ("raw_bytes_per_query_day", "raw B/query-day"),
               ("hourly_bytes_per_query_day", "rolled-up B/query-day"),
               ("partitions_dropped", "partitions dropped"),
               ("check_result_bytes", "B/check result")]
    print(common.table([h for _, h in columns], [[r[k] for k, _ in columns] for r in results]))
    common.write_json(args.json, "storage_bytes", {"results": results})


if __name__ == "__main__":
    main()

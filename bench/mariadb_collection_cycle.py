"""Benchmark: one MariaDB collection cycle of 5,000 statement digests vs a bare fetch + insert.

planwatch (plan capture off): `MysqlCollector.collect(now)` + what the collection job persists
(`jobs.collection._persist`: samples, texts, target status) into SQLite storage.
Baseline: `SELECT * FROM performance_schema.events_statements_summary_by_digest` with pymysql
+ one `executemany` of the same number of 12-column rows into planwatch's own `query_samples`
table of a storage migrated by planwatch (same keys, index, foreign key and PRAGMAs; its query
rows created once at setup), in one transaction. Both sides run alternately in the same process
against the same throwaway server (performance_schema_digests_size raised so 5,000 distinct
digests fit); the workload is re-run before every measured cycle so every digest has a
non-zero delta. Goal (issue 6): steady-state planwatch cycle <= 1.5 x the baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import common
import pymysql
from collection_cycle import BASELINE_INSERT, profile, report, summarize

from planwatch.clock import utcnow
from planwatch.collectors.mysql import MysqlCollector
from planwatch.devtools import mariadbserver
from planwatch.jobs import collection
from planwatch.jobs.deps import JobDeps
from planwatch.model.samples import QueryRef
from planwatch.storage import queries, targets
from planwatch.storage.engine import SQLITE_PRAGMAS, Storage

COLUMNS_PER_TABLE = 10
SHAPES = (  # 5 statement shapes x tables x columns = distinct digests
    "SELECT c{j} FROM t{i} WHERE c{j} = {v}",
    "SELECT count(*) FROM t{i} WHERE c{j} > {v}",
    "SELECT max(c{j}) FROM t{i} WHERE id < {v}",
    "SELECT c{j} FROM t{i} ORDER BY c{j} LIMIT {v}",
    "SELECT sum(c{j}) FROM t{i} WHERE id = {v}",
)


def statements(count: int) -> list[str]:
    """`count` statements with distinct digests (literals differ only by value)."""
    tables = -(-count // (len(SHAPES) * COLUMNS_PER_TABLE))
    out = [shape.replace("{i}", str(i)).replace("{j}", str(j))
           for i in range(tables) for j in range(COLUMNS_PER_TABLE) for shape in SHAPES]
    return out[:count]


def create_schema(server: mariadbserver.MariaDbServer, db: str, count: int) -> None:
    tables = -(-count // (len(SHAPES) * COLUMNS_PER_TABLE))
    cols = ", ".join(f"c{j} INT" for j in range(COLUMNS_PER_TABLE))
    vals = ", ".join(f"seq * {j + 1}" for j in range(COLUMNS_PER_TABLE))
    with contextlib.closing(server.connect(db)) as conn, conn.cursor() as cur:
        for i in range(tables):
            cur.execute(f"CREATE TABLE t{i} (id INT PRIMARY KEY, {cols})")
            cur.execute(f"INSERT INTO t{i} SELECT seq, {vals} FROM seq_1_to_10")


def run_workload(conn: pymysql.connections.Connection[Any], stmts: list[str]) -> None:
    """Execute every statement once (one call each: every digest gets a non-zero delta)."""
    with conn.cursor() as cur:
        for k, text in enumerate(stmts):
            cur.execute(text.replace("{v}", str(k % 7 + 1)))
            cur.fetchall()


def planwatch_cycle(collector: MysqlCollector, deps: JobDeps) -> dict[str, Any]:
    """One collection cycle exactly as the collection job does it, timed in two parts."""
    with common.Meter() as meter:
        t0 = time.perf_counter()
        result = collector.collect(utcnow())
        t1 = time.perf_counter()
        written = collection._persist(deps, collector, result)
        t2 = time.perf_counter()
    return {"s": t2 - t0, "collect_s": t1 - t0, "persist_s": t2 - t1, "samples": written,
            "texts": len(result.texts), **meter.result()}


class Baseline:
    """The bare path: pymysql fetch of the digest table + sqlite3 executemany into a planwatch
    storage of its own (migrated, one query row per digest created once at setup)."""

    def __init__(self, server: mariadbserver.MariaDbServer, db: str, path: Path) -> None:
        self.my = server.connect()
        url = f"sqlite:///{path}"
        config = common.settings(url, [{"name": "bench", "engine": "mariadb",
                                        "dsn": server.url(db)}])
        storage = Storage.open(url)
        storage.migrate()
        targets.sync(storage, config.targets, utcnow())
        with self.my.cursor() as cur:
            cur.execute("SELECT SCHEMA_NAME, DIGEST FROM "
                        "performance_schema.events_statements_summary_by_digest "
                        "WHERE DIGEST IS NOT NULL")
            keys = [(schema or "", digest) for schema, digest in cur.fetchall()]
        refs = [QueryRef("bench", schema, digest, "") for schema, digest in keys]
        self.pk = {(r.database, r.query_id): pk
                   for r, pk in queries.upsert(storage, refs, utcnow()).items()}
        storage.close()
        self.db = sqlite3.connect(path, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            self.db.execute(f"PRAGMA {pragma}")

    def cycle(self) -> dict[str, Any]:
        with common.Meter() as meter:
            out = self._cycle()
        return out | meter.result()

    def _cycle(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        with self.my.cursor() as cur:
            cur.execute("SELECT * FROM performance_schema.events_statements_summary_by_digest")
            rows = cur.fetchall()
            names = [d[0] for d in cur.description or ()]
        t1 = time.perf_counter()
        ix = {n: names.index(n) for n in names}
        end = utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")
        pk, schema, digest = self.pk, ix["SCHEMA_NAME"], ix["DIGEST"]
        params = [
            (pk[(r[schema] or "", r[digest])], end, end, None, r[ix["COUNT_STAR"]],
             r[ix["SUM_TIMER_WAIT"]] / 1e9, r[ix["AVG_TIMER_WAIT"]] / 1e9,
             r[ix["SUM_ROWS_SENT"]], r[ix["SUM_ROWS_EXAMINED"]], 0,
             r[ix["SUM_CREATED_TMP_TABLES"]], None)
            for r in rows if (r[schema] or "", r[digest]) in pk  # the workload's digests
        ]
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(BASELINE_INSERT, params)
        self.db.execute("COMMIT")
        t2 = time.perf_counter()
        return {"s": t2 - t0, "fetch_s": t1 - t0, "insert_s": t2 - t1, "rows": len(params)}

    def close(self) -> None:
        self.my.close()
        self.db.close()


class PlanwatchSide:
    """A collector and a freshly migrated SQLite storage, as one worker would have them."""

    def __init__(self, server: mariadbserver.MariaDbServer, db: str, path: Path) -> None:
        url = f"sqlite:///{path}"
        target = {"name": "bench", "engine": "mariadb", "dsn": server.url(db),
                  "plan_capture": False}
        config = common.settings(url, [target])
        self.storage = Storage.open(url)
        self.storage.migrate()
        targets.sync(self.storage, config.targets, utcnow())
        self.deps = common.job_deps(config, self.storage)
        self.collector = MysqlCollector(config.targets[0])

    def close(self) -> None:
        self.collector.close()
        self.storage.close()
        self.deps.executor.shutdown()


def measure(a: argparse.Namespace, server: mariadbserver.MariaDbServer,
            tmp: Path) -> dict[str, Any]:
    db = "bench"
    server.sql(f"CREATE DATABASE {db}")
    create_schema(server, db, a.statements)
    stmts = statements(a.statements)
    work = server.connect(db)
    server.sql("TRUNCATE TABLE performance_schema.events_statements_summary_by_digest")
    run_workload(work, stmts)
    entries = int(server.sql(
        "SELECT count(*) FROM performance_schema.events_statements_summary_by_digest")[0][0])
    size = server.sql("SELECT @@performance_schema_digests_size")[0][0]
    print(f"digest rows: {entries} (performance_schema_digests_size {size})", flush=True)
    first = []
    for k in range(a.first_cycles):  # a fresh worker: its first poll reads every text
        side = PlanwatchSide(server, db, tmp / f"first-{k}.db")
        run_workload(work, stmts)
        first.append(planwatch_cycle(side.collector, side.deps))
        side.close()
    side = PlanwatchSide(server, db, tmp / "planwatch.db")
    planwatch_cycle(side.collector, side.deps)  # first poll: texts + snapshot, no samples yet
    base = Baseline(server, db, tmp / "baseline.db")
    pw_runs: list[dict[str, Any]] = []
    base_runs: list[dict[str, Any]] = []
    for r in range(a.rounds):
        for who in (("pw", "base") if r % 2 == 0 else ("base", "pw")):
            run_workload(work, stmts)
            if who == "pw":
                pw_runs.append(planwatch_cycle(side.collector, side.deps))
            else:
                base_runs.append(base.cycle())
    prof_text = ""
    if a.profile:
        run_workload(work, stmts)
        prof_text = profile(lambda: planwatch_cycle(side.collector, side.deps))
    side.close()
    base.close()
    work.close()
    return {"entries": entries, "first": first, "planwatch": pw_runs, "baseline": base_runs,
            "profile": prof_text}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=11, help="alternating rounds per side")
    parser.add_argument("--first-cycles", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one extra cycle")
    parser.add_argument("--quick", action="store_true", help="smoke run (500 statements)")
    parser.add_argument("--json", metavar="PATH", help="also write the raw results here")
    a = parser.parse_args(argv)
    if a.quick:
        a.statements, a.rounds, a.first_cycles = 500, 2, 1
    common.quiet_logs()
    settings = {"performance-schema-digests-size": str(max(10000, a.statements * 2)),
                "innodb-buffer-pool-size": "128M"}
    server = mariadbserver.start_server(settings)
    try:
        facts = common.machine()
        facts["mariadb"] = server.sql("SELECT VERSION()")[0][0]
        with tempfile.TemporaryDirectory(prefix="planwatch-bench-") as tmp:
            raw = measure(a, server, Path(tmp))
    finally:
        server.cleanup()
    res = summarize(raw, vars(a)) | {"machine": facts, "load_at_end": common.load_line()}
    print(report(res))
    print(f"machine: {facts['cpu']}, {facts['load_at_start']}; at end {res['load_at_end']}")
    if res["profile"]:
        print("\ncProfile of one steady cycle (cumulative):\n" + res["profile"])
    common.write_json(a.json, "mariadb_collection_cycle", res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: one collection cycle of 5,000 pg_stat_statements entries vs a bare fetch + insert.

planwatch (plan capture off): `PostgresCollector.collect(now)` + what the collection job
persists (`jobs.collection._persist`: samples, texts, target status) into SQLite storage.
Baseline: `SELECT * FROM pg_stat_statements` with psycopg + one `executemany` of the same
12-column rows into planwatch's own `query_samples` table of a storage migrated by planwatch
(same keys, index, foreign key and PRAGMAs; its query rows created once at setup), in one
transaction. Both sides run alternately in the same process against the same cluster;
the workload is re-run before every measured cycle so every entry has a non-zero delta.
Goal (issue 2): steady-state planwatch cycle <= 1.5 x the baseline.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common
import psycopg

from planwatch.clock import utcnow
from planwatch.collectors.postgres import PostgresCollector
from planwatch.devtools import pgcluster
from planwatch.jobs import collection
from planwatch.jobs.deps import JobDeps
from planwatch.model.samples import QueryRef
from planwatch.storage import queries, targets
from planwatch.storage.engine import SQLITE_PRAGMAS, Storage

GOAL_RATIO = 1.5
COLUMNS_PER_TABLE = 10
SHAPES = (  # 5 statement shapes x tables x columns = distinct pg_stat_statements entries
    "SELECT c{j} FROM t{i} WHERE c{j} = %s",
    "SELECT count(*) FROM t{i} WHERE c{j} > %s",
    "SELECT max(c{j}) FROM t{i} WHERE id < %s",
    "SELECT c{j} FROM t{i} ORDER BY c{j} LIMIT %s",
    "SELECT sum(c{j}) FROM t{i} WHERE id = %s",
)
BASELINE_INSERT = (
    "INSERT INTO query_samples (query_pk, interval_start, interval_end, plan_hash, calls, "
    "total_ms, mean_ms, rows, blks_hit, blks_read, blks_temp, extras) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
"""The bare write: the same rows into planwatch's own query_samples table (same storage
schema: keys, index, foreign key to queries, PRAGMAs), with no upsert and no objects."""


def statements(count: int) -> list[str]:
    """`count` statements with distinct query ids over enough small tables."""
    out = []
    tables = -(-count // (len(SHAPES) * COLUMNS_PER_TABLE))
    for i in range(tables):
        for j in range(COLUMNS_PER_TABLE):
            out += [shape.format(i=i, j=j) for shape in SHAPES]
    return out[:count]


def create_schema(cluster: pgcluster.PgCluster, db: str, count: int) -> None:
    tables = -(-count // (len(SHAPES) * COLUMNS_PER_TABLE))
    cols = ", ".join(f"c{j} int" for j in range(COLUMNS_PER_TABLE))
    vals = ", ".join(f"g * {j + 1}" for j in range(COLUMNS_PER_TABLE))
    ddl = [f"CREATE TABLE t{i} (id int PRIMARY KEY, {cols});"
           f"INSERT INTO t{i} SELECT g, {vals} FROM generate_series(1, 10) g;"
           for i in range(tables)]
    cluster.psql("\n".join(ddl) + "\nANALYZE;", db)


def run_workload(conn: psycopg.Connection[Any], stmts: list[str]) -> None:
    """Execute every statement once (one call each: every entry gets a non-zero delta)."""
    for k, text in enumerate(stmts):
        conn.execute(text, (k % 7 + 1,)).fetchall()


# -- the two sides -------------------------------------------------------------------------


def planwatch_cycle(collector: PostgresCollector, deps: JobDeps) -> dict[str, Any]:
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
    """The bare path: psycopg fetch of the whole view + sqlite3 executemany in one transaction
    into a planwatch storage of its own (migrated, query rows created once at setup)."""

    def __init__(self, cluster: pgcluster.PgCluster, db: str, path: Path) -> None:
        self.pg = psycopg.connect(cluster.dsn(db), autocommit=True)
        url = f"sqlite:///{path}"
        config = common.settings(url, [{"name": "bench", "dsn": cluster.dsn(db)}])
        storage = Storage.open(url)
        storage.migrate()
        targets.sync(storage, config.targets, utcnow())
        found = self.pg.execute("SELECT DISTINCT queryid FROM pg_stat_statements")
        ids = [str(r[0]) for r in found]
        refs = [QueryRef("bench", db, i, "") for i in ids]
        self.pk = {ref.query_id: pk for ref, pk in queries.upsert(storage, refs, utcnow()).items()}
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
        cur = self.pg.execute("SELECT * FROM pg_stat_statements")
        rows = cur.fetchall()
        t1 = time.perf_counter()
        names = [d.name for d in cur.description or ()]
        ix = {n: names.index(n) for n in names}
        end = utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")
        start = end  # one interval; the value does not matter for the cost
        pk = self.pk
        q = ix["queryid"]
        params = [
            (pk[str(r[q])], start, end, None, r[ix["calls"]], r[ix["total_exec_time"]],
             r[ix["mean_exec_time"]], r[ix["rows"]], r[ix["shared_blks_hit"]],
             r[ix["shared_blks_read"]],
             r[ix["temp_blks_read"]] + r[ix["temp_blks_written"]], None)
            for r in rows if str(r[q]) in pk  # statements seen at setup (the workload's)
        ]
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(BASELINE_INSERT, params)
        self.db.execute("COMMIT")
        t2 = time.perf_counter()
        return {"s": t2 - t0, "fetch_s": t1 - t0, "insert_s": t2 - t1, "rows": len(params)}

    def close(self) -> None:
        self.pg.close()
        self.db.close()


# -- orchestration -------------------------------------------------------------------------


class PlanwatchSide:
    """A collector and a freshly migrated SQLite storage, as one worker would have them."""

    def __init__(self, cluster: pgcluster.PgCluster, db: str, path: Path) -> None:
        url = f"sqlite:///{path}"
        target = {"name": "bench", "dsn": cluster.dsn(db), "plan_capture": False}
        config = common.settings(url, [target])
        self.storage = Storage.open(url)
        self.storage.migrate()
        targets.sync(self.storage, config.targets, utcnow())
        self.deps = common.job_deps(config, self.storage)
        self.collector = PostgresCollector(config.targets[0])

    def close(self) -> None:
        self.collector.close()
        self.storage.close()
        self.deps.executor.shutdown()


def profile(fn: Callable[[], object], top: int = 25) -> str:
    prof = cProfile.Profile()
    prof.runcall(fn)
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def measure(args: argparse.Namespace, cluster: pgcluster.PgCluster, tmp: Path) -> dict[str, Any]:
    db = "bench"
    cluster.psql(f"CREATE DATABASE {db}")
    cluster.psql("CREATE EXTENSION pg_stat_statements", db)
    create_schema(cluster, db, args.statements)
    stmts = statements(args.statements)
    work = psycopg.connect(cluster.dsn(db), autocommit=True, prepare_threshold=None)
    cluster.psql("SELECT pg_stat_statements_reset()", db)
    run_workload(work, stmts)
    entries = int(cluster.psql("SELECT count(*) FROM pg_stat_statements", db))
    print(f"pg_stat_statements entries: {entries}")
    first = []
    for k in range(args.first_cycles):  # a fresh worker: its first poll reads every text
        side = PlanwatchSide(cluster, db, tmp / f"first-{k}.db")
        run_workload(work, stmts)
        first.append(planwatch_cycle(side.collector, side.deps))
        side.close()
    side = PlanwatchSide(cluster, db, tmp / "planwatch.db")
    planwatch_cycle(side.collector, side.deps)  # first poll: texts + snapshot, no samples yet
    base = Baseline(cluster, db, tmp / "baseline.db")
    pw_runs: list[dict[str, Any]] = []
    base_runs: list[dict[str, Any]] = []
    for r in range(args.rounds):
        order = ("pw", "base") if r % 2 == 0 else ("base", "pw")
        for who in order:
            run_workload(work, stmts)
            if who == "pw":
                pw_runs.append(planwatch_cycle(side.collector, side.deps))
            else:
                base_runs.append(base.cycle())
    prof_text = ""
    if args.profile:
        run_workload(work, stmts)
        prof_text = profile(lambda: planwatch_cycle(side.collector, side.deps))
    side.close()
    base.close()
    work.close()
    return {"entries": entries, "first": first, "planwatch": pw_runs, "baseline": base_runs,
            "profile": prof_text}


def summarize(raw: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Medians of both sides; the goal is on the median wall time of steady cycles."""
    def med(runs: list[dict[str, Any]], key: str = "s") -> float:
        return common.median([float(x[key]) for x in runs])

    pw, base, first = raw["planwatch"], raw["baseline"], raw["first"]
    ratio = med(pw) / med(base)
    pairs = [p["s"] / b["s"] for p, b in zip(pw, base, strict=True)]
    keys = ("s", "collect_s", "persist_s", "cpu_s", "gc_s")
    return {
        "config": config,
        "entries": raw["entries"],
        "samples_per_cycle": sorted({x["samples"] for x in pw}),
        "planwatch": {k: med(pw, k) for k in keys},
        "planwatch_first": {k: med(first, k) for k in keys},
        "baseline": {k: med(base, k) for k in ("s", "fetch_s", "insert_s", "cpu_s", "gc_s")},
        "planwatch_s": common.spread([x["s"] for x in pw]),
        "baseline_s": common.spread([x["s"] for x in base]),
        "full_gcs": {"planwatch": sum(x["full_gcs"] for x in pw),
                     "baseline": sum(x["full_gcs"] for x in base), "cycles": len(pw)},
        "ratio_steady": ratio,
        "ratio_cpu": med(pw, "cpu_s") / med(base, "cpu_s"),
        "median_pair_ratio": common.median(pairs),
        "ratio_first": med(first) / med(base),
        "goal_ratio": GOAL_RATIO,
        "pass": ratio <= GOAL_RATIO,
        "profile": raw["profile"],
    }


def report(res: dict[str, Any]) -> str:
    p, f, b = res["planwatch"], res["planwatch_first"], res["baseline"]
    rows = [
        ["planwatch steady cycle", p["s"], p["collect_s"], p["persist_s"], p["cpu_s"],
         p["gc_s"], res["ratio_steady"]],
        ["planwatch first cycle (texts)", f["s"], f["collect_s"], f["persist_s"], f["cpu_s"],
         f["gc_s"], res["ratio_first"]],
        ["baseline fetch + executemany", b["s"], b["fetch_s"], b["insert_s"], b["cpu_s"],
         b["gc_s"], 1.0],
    ]
    head = ["side (medians)", "wall s", "fetch/collect s", "write s", "CPU s", "GC s",
            "x baseline"]
    gcs = res["full_gcs"]
    return "\n".join([
        common.table(head, rows),
        f"samples per steady cycle: {res['samples_per_cycle']}; wall min/max planwatch "
        f"{res['planwatch_s']['min']:.3f}/{res['planwatch_s']['max']:.3f} s, baseline "
        f"{res['baseline_s']['min']:.3f}/{res['baseline_s']['max']:.3f} s; median of "
        f"per-round ratios {res['median_pair_ratio']:.2f}; CPU ratio {res['ratio_cpu']:.2f}; "
        f"full GCs in {gcs['cycles']} cycles: planwatch {gcs['planwatch']}, "
        f"baseline {gcs['baseline']}",
        f"goal: steady <= {GOAL_RATIO}x baseline (median wall) -> {res['ratio_steady']:.2f}x "
        f"{common.verdict(res['pass'])}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=21, help="alternating rounds per side")
    parser.add_argument("--first-cycles", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one extra cycle")
    parser.add_argument("--quick", action="store_true", help="smoke run (500 statements)")
    parser.add_argument("--json", metavar="PATH", help="also write the raw results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.statements, args.rounds, args.first_cycles = 500, 2, 1
    settings = {"pg_stat_statements.max": str(max(10000, args.statements * 2)),
                "pg_stat_statements.track": "top", "shared_buffers": "128MB"}
    common.quiet_logs()
    cluster = pgcluster.start_cluster(settings)
    try:
        facts = common.machine(cluster)
        with tempfile.TemporaryDirectory(prefix="planwatch-bench-") as tmp:
            raw = measure(args, cluster, Path(tmp))
    finally:
        cluster.cleanup()
    config = {"statements": args.statements, "rounds": args.rounds,
              "first_cycles": args.first_cycles, "quick": args.quick}
    res = summarize(raw, config) | {"machine": facts, "load_at_end": common.load_line()}
    print(report(res))
    print(f"machine: {facts['cpu']}, {facts['load_at_start']}; at end {res['load_at_end']}")
    if res["profile"]:
        print("\ncProfile of one steady cycle (cumulative):\n" + res["profile"])
    common.write_json(args.json, "collection_cycle", res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: the analysis job over 2,000 queries x 7 days of 5-minute samples (~4 M rows).

A SQLite storage is seeded once: queries through planwatch's storage modules, then ~4 M
`query_samples` rows by bulk insert into the same table (the interval index is dropped during
the load and re-created with its own definition), then baselines by one baseline rebuild.
A few queries regress in the last window and a few switch plans, so detection has work.

Then, alternately, fresh child processes run
  * the per-cycle analysis (`jobs.analysis.analyze_target`: recent window + stored baselines,
    regression detection, hotspots, alert transitions) — goal (issue 2): <= 2 s, peak RSS
    <= 300 MB;
  * the full baseline rebuild (`jobs.baselines.rebuild_target`: 7 days of samples) — measured
    and reported, no goal.
Each child reports its own wall time and peak RSS (getrusage ru_maxrss), so the memory is the
analysis's own process, interpreter and libraries included.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import common

from planwatch.model.samples import QueryRef, StatementText
from planwatch.storage import queries, targets
from planwatch.storage.engine import Storage

GOAL_S = 2.0
GOAL_RSS_MB = 300.0
TARGET = "bench"
STEP = timedelta(minutes=5)
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DATETIME on SQLite
NOW = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)  # end of the newest interval (fixed: repeatable)
REGRESSING = 20  # queries 5x slower in the last window
PLAN_CHANGES = 10  # queries on a new plan in the last window


def target_config(url: str) -> Any:
    # The per-cycle job never connects to the target: the DSN only has to be valid.
    target = {"name": TARGET, "dsn": "host=127.0.0.1 port=1 dbname=none", "plan_capture": False}
    return common.settings(url, [target])


# -- seeding -------------------------------------------------------------------------------


def seed(path: Path, n_queries: int, days: int) -> int:
    """Create and fill the storage; returns the number of sample rows."""
    url = f"sqlite:///{path}"
    config = target_config(url)
    st = Storage.open(url)
    st.migrate()
    targets.sync(st, config.targets, NOW)
    first = NOW - timedelta(days=days)
    refs = [QueryRef(TARGET, "shop", str(10_000_000_000 + q), f"{q:016x}")
            for q in range(n_queries)]
    ids = queries.upsert(st, refs, first)
    queries.set_texts(st, [StatementText(r, f"SELECT * FROM t{i % 50} WHERE c = $1")
                           for i, r in enumerate(refs)], first)
    st.close()
    intervals = int(timedelta(days=days) / STEP)
    ends = [NOW - k * STEP for k in range(intervals)][::-1]
    starts = [(e - STEP).strftime(SQLITE_TIME) for e in ends]
    end_text = [e.strftime(SQLITE_TIME) for e in ends]
    db = sqlite3.connect(path, isolation_level=None)
    index_sql = db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'query_samples' "
        "AND sql IS NOT NULL").fetchall()
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    for (sql,) in index_sql:  # secondary indexes: rebuilt once after the load
        name = sql.split("INDEX", 1)[1].split("ON", 1)[0].strip().strip('"')
        db.execute(f'DROP INDEX "{name}"')
    db.executemany(
        "INSERT INTO query_samples (query_pk, interval_start, interval_end, plan_hash, calls, "
        "total_ms, mean_ms, rows, blks_hit, blks_read, blks_temp, extras) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
        _sample_rows([ids[r] for r in refs], starts, end_text),
    )
    for (sql,) in index_sql:
        db.execute(sql)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    count = int(db.execute("SELECT count(*) FROM query_samples").fetchone()[0])
    db.close()
    return count


def _sample_rows(pks: list[int], starts: list[str], ends: list[str]) -> Iterator[tuple[Any, ...]]:
    """Plausible rows: per-query base latency and call rate, noisy intervals, a few
    regressions and plan changes in the last three intervals (the 15-minute window)."""
    rng = random.Random(42)
    n = len(starts)
    for q, pk in enumerate(pks):
        base_ms = rng.lognormvariate(0.5, 1.2)
        rate = rng.randint(5, 500)
        plan = f"plan{q % 7}"
        for k in range(n):
            recent = k >= n - 3
            calls = max(1, int(rate * rng.uniform(0.7, 1.3)))
            mean = base_ms * rng.uniform(0.85, 1.15) * (5.0 if recent and q < REGRESSING else 1)
            hash_ = "newplan" if recent and REGRESSING <= q < REGRESSING + PLAN_CHANGES else plan
            total = calls * mean
            yield (pk, starts[k], ends[k], hash_, calls, total, mean, calls * 3, calls * 20,
                   calls // 10, 0)


# -- the measured children -------------------------------------------------------------------


def child(kind: str, path: Path) -> dict[str, Any]:
    """Runs inside a fresh process: one analysis or one baseline rebuild, timed."""
    from planwatch.jobs import analysis as analysis_job
    from planwatch.jobs import baselines as baseline_job

    common.quiet_logs()
    url = f"sqlite:///{path}"
    config = target_config(url)
    st = Storage.open(url)
    deps = common.job_deps(config, st)
    rss_before = _rss_now_mb()
    t0 = time.perf_counter()
    if kind == "analysis":
        summary: Any = analysis_job.analyze_target(deps, config.targets[0], NOW)
    else:
        summary = baseline_job.rebuild_target(deps, TARGET, NOW)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    deps.executor.shutdown()
    st.close()
    return {"kind": kind, "s": seconds, "peak_rss_mb": peak, "rss_before_mb": rss_before,
            "summary": summary}


def _rss_now_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_child(kind: str, path: Path) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--db", str(path)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{res.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return result


# -- orchestration -------------------------------------------------------------------------


def measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    path = tmp / "analysis.db"
    t0 = time.perf_counter()
    rows = seed(path, args.queries, args.days)
    seed_s = time.perf_counter() - t0
    print(f"seeded {rows:,} samples for {args.queries:,} queries in {seed_s:.0f} s "
          f"({path.stat().st_size / 2**20:,.0f} MiB)", flush=True)
    first = run_child("rebuild", path)  # stores the baselines the analysis compares against
    warm = run_child("analysis", path)  # opens the alerts; later runs see them active
    print(f"first rebuild {first['s']:.2f} s, warm-up analysis {warm['s']:.2f} s "
          f"{warm['summary']}", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {"analysis": [], "rebuild": []}
    for r in range(args.reps):
        for kind in (("analysis", "rebuild") if r % 2 == 0 else ("rebuild", "analysis")):
            runs[kind].append(run_child(kind, path))
    return {"rows": rows, "seed_s": seed_s, "runs": runs, "warmup": warm}


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": raw["rows"], "seed_s": raw["seed_s"]}
    for kind, runs in raw["runs"].items():
        out[kind] = {
            "s": common.spread([x["s"] for x in runs]),
            "peak_rss_mb": common.spread([x["peak_rss_mb"] for x in runs]),
            "rss_before_mb": common.median([x["rss_before_mb"] for x in runs]),
            "summary": runs[-1]["summary"],
        }
    a = out["analysis"]
    out["ratio_time"] = a["s"]["median"] / GOAL_S
    out["ratio_rss"] = a["peak_rss_mb"]["median"] / GOAL_RSS_MB
    out["pass"] = out["ratio_time"] <= 1 and out["ratio_rss"] <= 1
    return out


def report(res: dict[str, Any]) -> str:
    a, b = res["analysis"], res["rebuild"]
    rows = [
        ["per-cycle analysis", a["s"]["median"], GOAL_S, res["ratio_time"],
         a["peak_rss_mb"]["median"], GOAL_RSS_MB, res["ratio_rss"], a["rss_before_mb"]],
        ["full baseline rebuild (no goal)", b["s"]["median"], "-", "-",
         b["peak_rss_mb"]["median"], "-", "-", b["rss_before_mb"]],
    ]
    head = ["job (medians)", "time s", "goal s", "x goal", "peak RSS MB", "goal MB", "x goal",
            "RSS before MB"]
    spread = (f"analysis time min/max {a['s']['min']:.3f}/{a['s']['max']:.3f} s, rebuild "
              f"{b['s']['min']:.2f}/{b['s']['max']:.2f} s, n={a['s']['n']} each")
    verdict = (f"goal: analysis <= {GOAL_S} s and <= {GOAL_RSS_MB:.0f} MB -> "
               f"{res['ratio_time']:.2f}x time, {res['ratio_rss']:.2f}x RSS "
               f"{common.verdict(res['pass'])}")
    return "\n".join([common.table(head, rows), spread, f"analysis: {a['summary']}", verdict])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--reps", type=int, default=7, help="child runs of each kind")
    parser.add_argument("--quick", action="store_true", help="smoke run (200 queries, 1 day)")
    parser.add_argument("--json", metavar="PATH", help="also write the raw results here")
    parser.add_argument("--child", choices=("analysis", "rebuild"), help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.db), default=str))
        return 0
    if args.quick:
        args.queries, args.days, args.reps = 200, 1, 2
    common.quiet_logs()
    facts = common.machine()
    with tempfile.TemporaryDirectory(prefix="planwatch-bench-") as tmp:
        raw = measure(args, Path(tmp))
    res = summarize(raw) | {"machine": facts, "load_at_end": common.load_line(),
                            "config": vars(args) | {"db": None}}
    print(report(res))
    print(f"machine: {facts['cpu']}, {facts['load_at_start']}; at end {res['load_at_end']}")
    common.write_json(args.json, "analysis", res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

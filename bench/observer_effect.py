"""Benchmark: pgbench TPS with `planwatch run` collecting every 10 s (plan capture on) vs without.

One throwaway PostgreSQL cluster (pgbench scale 10, pg_stat_statements), pre-filled with
`--entries` distinct statements so every collection reads a realistically large view.
Alternating runs of `pgbench -T <duration>`: with planwatch (the real daemon, `planwatch run`,
collection every 10 s, plan capture on, SQLite storage, HTTP off; started `--warmup` seconds
before pgbench so its first collection and plan captures are behind it... and during the run)
and without planwatch (daemon stopped). Goal (issue 2): median TPS with planwatch >= 99 % of
the median without.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import collection_cycle
import common
import psycopg

from planwatch.devtools import pgcluster

GOAL = 0.99
TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")


def daemon_config(path: Path, dsn: str, storage: Path) -> Path:
    """A `planwatch run` config: one target, collection every 10 s with plan capture on."""
    config = {
        "storage": {"url": f"sqlite:///{storage}"},
        "worker": {"name": "bench-observer"},
        "targets": [{"name": "pgbench", "dsn": dsn, "plan_capture": True}],
        "scheduling": {"collection": {"interval": "10s", "startup_delay": "1s"}},
        "http": {"enabled": False},
        "logging": {"level": "warning"},
    }
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


class Daemon:
    """`planwatch run` in its own process group, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, config: Path, log: Path) -> None:
        exe = Path(sys.executable).with_name("planwatch")
        cmd = [str(exe), "-c", str(config), "run"] if exe.exists() else [
            sys.executable, "-m", "planwatch", "-c", str(config), "run"]
        self.log = log.open("ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def alive(self) -> bool:
        return self.proc.poll() is None


def pgbench(cluster: pgcluster.PgCluster, args: list[str]) -> str:
    exe = str(cluster.bindir / "pgbench")
    return common.run_client(cluster, [exe, "-h", "127.0.0.1", "-p", str(cluster.port),
                                       "-U", cluster.superuser, *args])


def run_pgbench(cluster: pgcluster.PgCluster, db: str, a: argparse.Namespace) -> float:
    out = pgbench(cluster, ["-c", str(a.clients), "-j", str(a.threads), "-T", str(a.duration),
                            "-n", db])
    match = TPS.search(out)
    if match is None:
        raise RuntimeError(f"no TPS in pgbench output:\n{out[-2000:]}")
    return float(match.group(1))


def collections(storage: Path) -> tuple[int, int, int]:
    """(successful collection runs, samples, plans) the daemon stored so far."""
    if not storage.exists():
        return 0, 0, 0
    db = sqlite3.connect(storage, timeout=30)
    try:
        runs = db.execute("SELECT count(*) FROM job_runs WHERE job_type = 'collection' "
                          "AND status = 'Completed'").fetchone()[0]
        samples = db.execute("SELECT count(*) FROM query_samples").fetchone()[0]
        plans = db.execute("SELECT count(*) FROM plans").fetchone()[0]
        return int(runs), int(samples), int(plans)
    except sqlite3.OperationalError:
        return 0, 0, 0
    finally:
        db.close()


def measure(a: argparse.Namespace, cluster: pgcluster.PgCluster, tmp: Path) -> dict[str, Any]:
    db = "bench"
    cluster.psql(f"CREATE DATABASE {db}")
    cluster.psql("CREATE EXTENSION pg_stat_statements", db)
    pgbench(cluster, ["-i", "-q", "-s", str(a.scale), db])
    if a.entries:
        collection_cycle.create_schema(cluster, db, a.entries)
        with psycopg.connect(cluster.dsn(db), autocommit=True, prepare_threshold=None) as conn:
            collection_cycle.run_workload(conn, collection_cycle.statements(a.entries))
    entries = int(cluster.psql("SELECT count(*) FROM pg_stat_statements", db))
    print(f"pg_stat_statements entries before the runs: {entries}", flush=True)
    storage = tmp / "planwatch.db"
    config = daemon_config(tmp / "planwatch.yaml", cluster.dsn(db), storage)
    log = tmp / "daemon.log"
    run_pgbench(cluster, db, argparse.Namespace(**{**vars(a), "duration": a.warmup}))  # warm
    with_pw: list[float] = []
    without: list[float] = []
    per_run: list[dict[str, Any]] = []
    for r in range(a.rounds):
        for side in (("with", "without") if r % 2 == 0 else ("without", "with")):
            if side == "with":
                daemon = Daemon(config, log)
                time.sleep(a.warmup)
                before = collections(storage)
                try:
                    if not daemon.alive():
                        raise RuntimeError(f"planwatch run exited:\n{log.read_text()[-3000:]}")
                    tps = run_pgbench(cluster, db, a)
                    after = collections(storage)
                    if not daemon.alive():
                        raise RuntimeError(f"planwatch run exited:\n{log.read_text()[-3000:]}")
                finally:
                    daemon.stop()
                with_pw.append(tps)
                done = after[0] - before[0]
                per_run.append({"side": side, "tps": tps, "collections": done,
                                "samples": after[1] - before[1], "plans_total": after[2]})
            else:
                time.sleep(a.idle)
                tps = run_pgbench(cluster, db, a)
                without.append(tps)
                per_run.append({"side": side, "tps": tps})
            print(f"round {r + 1}/{a.rounds} {side:8s} tps {tps:9.1f} "
                  f"{per_run[-1].get('collections', '')}", flush=True)
    problems = [line[:300] for line in log.read_text(errors="replace").splitlines()
                if '"level": "error"' in line or "Traceback" in line][-5:]
    failed_plans = log.read_text(errors="replace").count("collection.plan_capture_failed")
    return {"entries": entries, "with": with_pw, "without": without, "runs": per_run,
            "daemon_log_errors": problems, "plan_capture_failures": failed_plans}


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    med_with, med_without = common.median(raw["with"]), common.median(raw["without"])
    pairs = [w / wo for w, wo in zip(raw["with"], raw["without"], strict=True)]
    ratio = med_with / med_without
    runs = [x for x in raw["runs"] if x["side"] == "with"]
    return {
        "entries": raw["entries"], "tps_with": common.spread(raw["with"]),
        "tps_without": common.spread(raw["without"]), "ratio": ratio,
        "pair_ratios": pairs, "median_pair_ratio": common.median(pairs),
        "collections_per_run": [x["collections"] for x in runs],
        "samples_per_run": [x["samples"] for x in runs],
        "plans_stored": runs[-1]["plans_total"] if runs else 0,
        "goal": GOAL, "pass": ratio >= GOAL, "daemon_log_errors": raw["daemon_log_errors"],
        "plan_capture_failures": raw["plan_capture_failures"],
    }


def report(res: dict[str, Any], a: argparse.Namespace) -> str:
    w, wo = res["tps_with"], res["tps_without"]
    rows = [["with planwatch (10 s, plans on)", w["median"], w["min"], w["max"], res["ratio"]],
            ["without planwatch", wo["median"], wo["min"], wo["max"], 1.0]]
    head = ["pgbench side", "median TPS", "min TPS", "max TPS", "x without"]
    lines = [
        common.table(head, rows),
        f"per-pair ratios: {', '.join(f'{x:.3f}' for x in res['pair_ratios'])} "
        f"(median {res['median_pair_ratio']:.3f})",
        f"collections per {a.duration} s run: {res['collections_per_run']}, samples per run: "
        f"{res['samples_per_run']}, plans stored: {res['plans_stored']} (failed EXPLAINs, "
        f"e.g. of the setup DDL: {res['plan_capture_failures']})",
        f"goal: TPS with planwatch >= {GOAL:.0%} of without -> {res['ratio']:.1%} "
        f"{common.verdict(res['pass'])}",
    ]
    if res["daemon_log_errors"]:
        lines.append("daemon log errors: " + " | ".join(res["daemon_log_errors"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="alternating pairs of runs")
    parser.add_argument("--duration", type=int, default=30, help="seconds per pgbench run")
    parser.add_argument("--warmup", type=int, default=12,
                        help="seconds the daemon runs before its pgbench run starts")
    parser.add_argument("--idle", type=int, default=2, help="pause before a run without")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scale", type=int, default=10, help="pgbench scale factor")
    parser.add_argument("--entries", type=int, default=5000,
                        help="distinct statements put into pg_stat_statements first")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (2 pairs x 12 s, 500 entries)")
    parser.add_argument("--json", metavar="PATH", help="also write the raw results here")
    a = parser.parse_args(argv)
    if a.quick:
        a.rounds, a.duration, a.warmup, a.entries, a.scale = 2, 12, 8, 500, 2
    common.quiet_logs()
    settings = {"pg_stat_statements.max": str(max(5000, a.entries * 2)),
                "pg_stat_statements.track": "top", "shared_buffers": "128MB"}
    cluster = pgcluster.start_cluster(settings)
    try:
        facts = common.machine(cluster)
        with tempfile.TemporaryDirectory(prefix="planwatch-bench-") as tmp:
            raw = measure(a, cluster, Path(tmp))
    finally:
        cluster.cleanup()
    res = summarize(raw) | {"machine": facts, "load_at_end": common.load_line(),
                            "config": vars(a)}
    print(report(res, a))
    print(f"machine: {facts['cpu']}, {facts['load_at_start']}; at end {res['load_at_end']}")
    common.write_json(a.json, "observer_effect", res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

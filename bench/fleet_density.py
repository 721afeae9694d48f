"""Benchmark: how many PostgreSQL targets one worker process serves at 60 s polls, and how a
fleet of two recovers from a SIGKILLed worker (issue 11).

Targets are databases on throwaway PostgreSQL clusters (`--targets-per-cluster` targets per
cluster, `--targets-per-db` targets per database: they read the same pg_stat_statements rows
but each has its own collector, connection, queries and samples, as separate servers would).
A driver thread runs `--statements` distinct statements in every database once per collection
interval (one multi-statement round trip), so every target sees that many statements change
per poll. The storage is its own throwaway PostgreSQL cluster. The worker is a real
`planwatch run --workers 1` process: collection every `--interval` (60 s) with jitter over the
whole interval, analysis every 5 min, plan capture on, heartbeat 15 s (lease TTL 60 s).

Per size N, after a warm-up (at least `--warmup` seconds and two polls per target; with
`--warmup 1500` the plans are captured and the baselines learned), over `--window`:
worker CPU seconds per target-hour (psutil, user + system), peak RSS, p99 and max schedule lag
of the collections (job_runs: started - due), the share of due collections that ran, and
collections / analyses that took longer than their interval.

Failover: two workers share `--failover-targets` targets; one is SIGKILLed after the warm-up;
reported: seconds until every target it held is collected again, and in the samples of those
targets the missing time (gaps between consecutive intervals) and duplicate (overlapping)
intervals. The monitored clusters run without autovacuum and with glibc's mmap threshold
fixed (MONITORED_ENV): they stand in for separate servers, and on this small machine their
own overhead would otherwise take the CPU and memory the measured worker needs.
Run: nice .venv/bin/python bench/fleet_density.py [--sizes 250,500,1000,2000] [--quick]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import common
import psutil
import psycopg
import sqlalchemy as sa
import yaml

from planwatch.devtools import pgcluster
from planwatch.storage import leases, workers
from planwatch.storage.engine import Storage
from planwatch.storage.tables import job_runs, queries, query_samples

# Memory of one monitored backend as measured here, with MONITORED_ENV: sizes whose backends
# would not fit in the free memory are skipped.
BACKEND_MB = 4
# glibc's mmap threshold fixed at 128 kB in the monitored servers: a backend then returns the
# memory of its large per-poll allocations (the shared pg_stat_statements of 100 databases is
# read into one tuplestore) instead of keeping them as freed heap, ~16.7 MB per backend
# against ~2.5 MB (measured on 5 backends after 3 polls of a cluster of 100 databases).
MONITORED_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}


@dataclass
class Options:
    interval: float = 60.0
    analysis: float = 300.0
    heartbeat: float = 15.0
    statements: int = 200
    per_cluster: int = 500
    per_db: int = 5
    window: float = 360.0
    warmup: float = 150.0


@dataclass
class Estate:
    """The monitored clusters and their databases; target i reads database i // per_db."""

    clusters: list[pgcluster.PgCluster] = field(default_factory=list)
    databases: list[tuple[pgcluster.PgCluster, str]] = field(default_factory=list)

    def dsn(self, target: int, per_db: int) -> str:
        cluster, db = self.databases[target // per_db]
        return cluster.dsn(db)


@contextmanager
def estate(targets: int, opt: Options) -> Iterator[Estate]:
    """Clusters with `targets / per_db` databases, pg_stat_statements in each."""
    dbs = math.ceil(targets / opt.per_db)
    per_cluster_dbs = max(1, opt.per_cluster // opt.per_db)
    found = Estate()
    saved = {k: os.environ.get(k) for k in MONITORED_ENV}
    os.environ.update(MONITORED_ENV)  # inherited by pg_ctl and the server it starts
    try:
        for first in range(0, dbs, per_cluster_dbs):
            count = min(per_cluster_dbs, dbs - first)
            cluster = pgcluster.start_cluster({
                "max_connections": str(opt.per_cluster * 2 + 40),  # two workers in failover
                "pg_stat_statements.max": str(count * (opt.statements + 50) + 1000),
                "shared_buffers": "32MB",
                # the workload writes no table: the launcher's round of 100 databases a
                # minute would only take CPU from the worker measured here
                "autovacuum": "off",
            })
            found.clusters.append(cluster)
            cluster.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", "template1")
            with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
                for i in range(first, first + count):
                    conn.execute(f"CREATE DATABASE d{i:05d} STRATEGY FILE_COPY")
                    found.databases.append((cluster, f"d{i:05d}"))
        _restore(saved)
        yield found
    finally:
        _restore(saved)
        for cluster in found.clusters:
            cluster.cleanup()


def _restore(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class Workload(threading.Thread):
    """Runs `statements` distinct statements in each of the first `dbs` databases every
    `interval`, the databases' turns spread evenly over the interval."""

    def __init__(self, found: Estate, dbs: int, statements: int, interval: float) -> None:
        super().__init__(daemon=True, name="workload")
        self.found, self.dbs, self.interval = found, dbs, interval
        # Distinct parse trees (1..n output columns): each is its own pg_stat_statements
        # entry; the simple-query protocol runs them all in one round trip.
        self.batch = ";".join("SELECT " + ",".join(["1"] * k)
                              for k in range(1, statements + 1)).encode()
        self.stop = threading.Event()
        self.behind_s = 0.0  # the driver's own worst lag: the workload kept its pace?
        self.rounds = 0

    def run(self) -> None:
        t0 = time.monotonic()
        heap = [(t0 + self.interval * i / self.dbs, i) for i in range(self.dbs)]
        heapq.heapify(heap)
        while not self.stop.is_set():
            due, i = heapq.heappop(heap)
            wait = due - time.monotonic()
            if wait > 0 and self.stop.wait(wait):
                return
            self.behind_s = max(self.behind_s, -wait)
            cluster, db = self.found.databases[i]
            with psycopg.connect(cluster.dsn(db), autocommit=True) as conn:
                conn.pgconn.exec_(self.batch)
            self.rounds += 1
            heapq.heappush(heap, (due + self.interval, i))


def write_config(path: Path, storage_url: str, dsns: Sequence[str], opt: Options) -> Path:
    s = f"{opt.interval:g}s"
    config = {
        "storage": {"url": storage_url},
        "targets": [{"name": f"t{i:05d}", "engine": "postgresql", "dsn": dsn,
                     "plan_capture": True} for i, dsn in enumerate(dsns)],
        "scheduling": {
            "jitter": s,  # polls spread over the whole interval
            "collection": {"interval": s, "startup_delay": "0s"},
            "analysis": {"interval": f"{opt.analysis:g}s", "startup_delay": "30s"},
            "heartbeat": {"interval": f"{opt.heartbeat:g}s"},
        },
        "http": {"enabled": False},
        "logging": {"level": "warning", "format": "json"},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def start_worker(config: Path, name: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANWATCH_")}
    env["PLANWATCH_WORKER__NAME"] = name
    with config.with_suffix(f".{name}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "planwatch", "-c", str(config), "run", "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, env=env)


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def runs(st: Storage, since: datetime, until: datetime, job_type: str) -> list[Any]:
    j = job_runs
    stmt = sa.select(j.c.job_name, j.c.worker_id, j.c.status, j.c.scheduled_at,
                     j.c.started_at, j.c.completed_at, j.c.duration_ms).where(
        j.c.job_type == job_type, j.c.started_at >= since, j.c.started_at < until)
    with st.connect() as conn:
        return list(conn.execute(stmt))


def warm_up(st: Storage, n: int, opt: Options, procs: Sequence[subprocess.Popen[bytes]]) -> float:
    """Wait at least `opt.warmup`, and until every target has completed two collections (the
    first reads every statement text and captures plans); bounded at ten minutes more. Seconds."""
    t0 = time.monotonic()
    j = job_runs
    done = (sa.select(sa.func.count()).select_from(
        sa.select(j.c.job_name).where(j.c.job_type == "collection", j.c.status == "Completed")
        .group_by(j.c.job_name).having(sa.func.count() >= 2).subquery()))
    while time.monotonic() - t0 < opt.warmup + 600:
        if any(p.poll() is not None for p in procs):
            break
        if time.monotonic() - t0 >= opt.warmup:
            with st.connect() as conn:
                if conn.execute(done).scalar_one() >= n:
                    break
        time.sleep(5)
    return time.monotonic() - t0


def sleep_watching(seconds: float, proc: psutil.Process, rss: list[int]) -> None:
    """Sleep, sampling the worker's RSS every few seconds."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        rss.append(proc.memory_info().rss)
        time.sleep(min(5.0, left))


def prepare(found: Estate, storage: pgcluster.PgCluster, n: int, opt: Options,
            config: Path) -> tuple[Storage, Path, Workload]:
    """A fresh storage database, the worker configuration for `n` targets, the workload."""
    storage.psql(f"CREATE DATABASE {config.stem}")
    url = storage.url(config.stem)
    st = Storage.open(url)
    st.migrate()
    write_config(config, url, [found.dsn(i, opt.per_db) for i in range(n)], opt)
    load = Workload(found, math.ceil(n / opt.per_db), opt.statements, opt.interval)
    load.start()
    return st, config, load


def density(found: Estate, storage: pgcluster.PgCluster, n: int, opt: Options,
            tmp: Path) -> dict[str, Any]:
    """One worker, `n` targets: CPU, RSS, lag, collections and analyses on time."""
    st, config, load = prepare(found, storage, n, opt, tmp / f"density{n}.yaml")
    worker = start_worker(config, "solo")
    try:
        proc = psutil.Process(worker.pid)
        rss: list[int] = []
        warm_s = warm_up(st, n, opt, [worker])
        cpu0, w0 = sum(proc.cpu_times()[:2]), datetime.now(UTC)
        sleep_watching(opt.window, proc, rss)
        cpu1, w1 = sum(proc.cpu_times()[:2]), datetime.now(UTC)
        alive = worker.poll() is None
    finally:
        stop_worker(worker)
        load.stop.set()
        load.join()
    window_s = (w1 - w0).total_seconds()
    collections = runs(st, w0, w1, "collection")
    analyses = runs(st, w0 - timedelta(seconds=opt.analysis), w1, "analysis")
    st.close()
    lags = [(r.started_at - r.scheduled_at).total_seconds() for r in collections]
    done = [r for r in collections if r.status == "Completed"]
    due = n * window_s / opt.interval
    finished = [r for r in analyses if r.completed_at is not None]
    return {
        "targets": n, "alive": alive, "warm_up_s": round(warm_s), "window_s": round(window_s),
        "cpu_s_per_target_hour": (cpu1 - cpu0) / (n * window_s / 3600),
        "cpu_share_of_a_core": (cpu1 - cpu0) / window_s,
        "rss_mb": max(rss, default=0) / 2**20,
        "lag_p99_s": quantile(lags, 0.99), "lag_max_s": max(lags, default=float("nan")),
        "collections_done_pct": 100.0 * len(done) / due if due else float("nan"),
        "collections_failed": sum(r.status == "Failed" for r in collections),
        "collections_over_interval": sum((r.duration_ms or 0) > opt.interval * 1000
                                         for r in collections),
        "collection_ms_median": statistics.median([r.duration_ms or 0 for r in done])
        if done else float("nan"),
        "analyses": len(analyses), "analyses_finished": len(finished),
        "analysis_max_s": max(((r.duration_ms or 0) / 1000 for r in finished), default=0.0),
        "analyses_over_interval": sum((r.duration_ms or 0) > opt.analysis * 1000
                                      for r in finished) + len(analyses) - len(finished),
        "workload_behind_s": load.behind_s,
    }


def failover(found: Estate, storage: pgcluster.PgCluster, n: int, opt: Options,
             tmp: Path) -> dict[str, Any]:
    """Two workers share `n` targets; one is SIGKILLed; how the survivor takes over."""
    st, config, load = prepare(found, storage, n, opt, tmp / f"failover{n}.yaml")
    alpha, beta = start_worker(config, "alpha"), start_worker(config, "beta")
    try:
        warm_s = warm_up(st, n, opt, [alpha, beta])
        for name, proc in (("alpha", alpha), ("beta", beta)):
            if proc.poll() is not None:
                log = config.with_suffix(f".{name}.log").read_text()[-3000:]
                raise RuntimeError(f"worker {name} exited ({proc.returncode}):\n{log}")
        held = leases.holders(st, datetime.now(UTC), "target:")
        owners = {o for o in held.values()}
        beta_id = _instance(st, "beta")
        moved = sorted(name.removeprefix("target:") for name, o in held.items() if o == beta_id)
        beta.send_signal(signal.SIGKILL)
        beta.wait()
        killed = datetime.now(UTC)
        recovered = _wait_recovery(st, moved, killed, timeout=opt.interval * 3 + 240)
        time.sleep(opt.interval * 2)  # a few more intervals, to see gaps close or not
        gaps, overlaps = _intervals(st, moved, killed - timedelta(seconds=opt.interval * 3),
                                    killed)
    finally:
        for proc in (alpha, beta):
            stop_worker(proc)
        load.stop.set()
        load.join()
        st.close()
    times = sorted(recovered.values())
    return {
        "targets": n, "warm_up_s": round(warm_s), "workers_holding_before": len(owners),
        "moved": len(moved),
        "recovered": len(recovered),
        "recovery_s_median": statistics.median(times) if times else float("nan"),
        "recovery_s_max": max(times) if len(times) == len(moved) else float("inf"),
        "resumed": len(gaps), "targets_with_gap": sum(1 for g in gaps.values() if g > 0),
        "gap_s_median": statistics.median(gaps.values()) if gaps else 0.0,
        "gap_s_max": max(gaps.values(), default=0.0),
        "overlapping_intervals": overlaps,
        "workload_behind_s": load.behind_s,  # > an interval: some polls saw no new calls
    }


def _instance(st: Storage, name: str) -> str:
    return next(w.instance_id for w in workers.list_all(st) if w.name == name)


def _wait_recovery(st: Storage, moved: Sequence[str], killed: datetime,
                   timeout: float) -> dict[str, float]:
    """Seconds from the kill to each moved target's first completed collection after it."""
    names = [f"collection:{t}" for t in moved]
    j = job_runs
    stmt = (sa.select(j.c.job_name, sa.func.min(j.c.completed_at))
            .where(j.c.job_name.in_(names), j.c.started_at > killed,
                   j.c.status == "Completed").group_by(j.c.job_name))
    deadline = time.monotonic() + timeout
    found: dict[str, float] = {}
    while time.monotonic() < deadline and len(found) < len(moved):
        time.sleep(2)
        with st.connect() as conn:
            found = {name.removeprefix("collection:"): (at - killed).total_seconds()
                     for name, at in conn.execute(stmt)}
    return found


def _intervals(st: Storage, moved: Sequence[str], since: datetime,
               killed: datetime) -> tuple[dict[str, float], int]:
    """Per moved target whose samples resumed after `killed`: the seconds since `since` that
    no sample interval covers (between its first and last one); and how many intervals
    overlap (a duplicate). Targets with no sample after the kill yet are left out."""
    s, q = query_samples, queries
    stmt = (sa.select(q.c.target, s.c.interval_start, s.c.interval_end).distinct()
            .join(q, q.c.id == s.c.query_pk)
            .where(q.c.target.in_(moved), s.c.interval_start >= since))
    by_target: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    with st.connect() as conn:
        for target, start, end in conn.execute(stmt):
            by_target[target].append((start, end))
    gaps: dict[str, float] = {}
    overlaps = 0
    for target, spans in by_target.items():
        spans.sort()
        if spans[-1][0] <= killed:
            continue  # not resumed yet: its gap is still open
        missing = 0.0
        for (_, end), (start, _) in itertools.pairwise(spans):
            delta = (start - end).total_seconds()
            if delta > 0.5:
                missing += delta
            elif delta < -0.5:
                overlaps += 1
        gaps[target] = missing
    return gaps, overlaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="250,500,1000,2000",
                        help="numbers of targets for one worker [250,500,1000,2000]")
    parser.add_argument("--failover-targets", type=int, default=2000,
                        help="targets shared by the two workers of the failover run (0: skip)")
    parser.add_argument("--window", type=float, default=360.0, help="seconds measured [360]")
    parser.add_argument("--warmup", type=float, default=150.0,
                        help="seconds at least before the window [150]; 1500 measures the "
                             "steady state (plans captured, baselines learned)")
    parser.add_argument("--statements", type=int, default=200)
    parser.add_argument("--targets-per-db", type=int, default=5)
    parser.add_argument("--targets-per-cluster", type=int, default=500)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 20 targets, 10 s polls, a 40 s window")
    parser.add_argument("--json", help="save the raw results here")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stopped: clusters cleaned up
    common.quiet_logs()
    opt = Options(statements=args.statements, per_db=args.targets_per_db,
                  per_cluster=args.targets_per_cluster, window=args.window,
                  warmup=args.warmup)
    sizes = [int(x) for x in args.sizes.split(",") if x]
    fail_n = args.failover_targets
    if args.quick:
        opt = Options(interval=10, analysis=30, heartbeat=2, statements=50, per_cluster=20,
                      per_db=5, window=40, warmup=25)
        sizes, fail_n = [20], 20
    need = max([*sizes, fail_n])
    free_mb = psutil.virtual_memory().available / 2**20
    sizes = [n for n in sizes if n * BACKEND_MB + 2048 < free_mb]
    fail_n = fail_n if fail_n * BACKEND_MB + 2048 < free_mb else 0
    print(common.machine(), f"free memory {free_mb:,.0f} MB; sizes run: {sizes}", flush=True)
    results: dict[str, Any] = {"options": opt.__dict__, "density": [], "failover": None}
    with tempfile.TemporaryDirectory() as tmp, estate(need, opt) as found, \
            pgcluster.running_cluster({"max_connections": "200"}) as storage:
        for n in sizes:
            row = density(found, storage, n, opt, Path(tmp))
            results["density"].append(row)
            print(common.table(list(row), [list(row.values())]), flush=True)
        if fail_n:
            results["failover"] = failover(found, storage, fail_n, opt, Path(tmp))
            row = results["failover"]
            print(common.table(list(row), [list(row.values())]), flush=True)
        print(common.load_line())
    common.write_json(args.json, "fleet_density", results)


if __name__ == "__main__":
    main()

"""Benchmark: a worker's CPU per PostgreSQL target in steady state, in one process (issue 11).

The fleet-density run measures a whole `planwatch run` process from outside; this harness
reproduces its per-target work on a small scale inside one process, so cProfile (or
`valgrind --tool=callgrind`) sees it: `--targets` databases on one throwaway cluster (one
target each, pg_stat_statements), `--statements` distinct statements run in every database
before each poll, PostgreSQL storage on its own throwaway cluster, and a real `App` (storage,
fleet leases, scheduler, job records) whose jobs are run one by one with
`Scheduler.run_once`: every round, four heartbeats, then one collection per target (plan
capture on); every `--analysis-every` rounds, the analysis job (each target it holds).

The wall clock is simulated (`planwatch.clock` reads a clock that moves `--interval` per
round), so samples, baselines and analysis windows hold what 60 s polls would give them,
while rounds follow each other as fast as the machine goes. CPU is this process's own
(`time.process_time`: every thread, the driver included; the servers are other processes).

Reported after `--warmup` rounds (first polls read texts and capture plans; baselines learn):
mean CPU ms per poll, per analysis of one target and per heartbeat, and their sum per
target-hour (60 polls, 60 min / analysis interval analyses, 240 heartbeats shared by the
targets), and of that sum the cyclic garbage collector's share (tuned as `planwatch run`
tunes it; `--gc-default` leaves CPython's defaults). `--warmup 0 --rounds 60` measures a
target's first hour instead of the steady state.
Run: .venv/bin/python bench/worker_cpu.py [--targets 30] [--profile 40]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import common
import psycopg

from planwatch import app as app_module
from planwatch import clock, daemon, logs
from planwatch.app import App
from planwatch.config.settings import Settings
from planwatch.devtools import pgcluster


class SimulatedClock(datetime):
    """`datetime` whose `now()` is the simulated time (`planwatch.clock.utcnow` reads it)."""

    offset = timedelta(0)

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return datetime.now(tz or UTC) + cls.offset


@contextmanager
def simulated_clock() -> Iterator[type[SimulatedClock]]:
    real = clock.datetime
    clock.datetime = SimulatedClock  # type: ignore[misc]
    try:
        yield SimulatedClock
    finally:
        clock.datetime = real  # type: ignore[misc]


class InlineExecutor(ThreadPoolExecutor):
    """Runs each call at once in the submitting thread: cProfile sees only its own thread,
    so `--profile` runs the worker's blocking calls inline (the numbers then lack the
    threads' hand-over cost; measure without `--profile`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(max_workers=1)  # never starts its thread: `submit` runs the call

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


PHASES = (  # (module, attribute): CPU of each call summed under "module.attribute"
    ("planwatch.storage.samples", "window"), ("planwatch.analysis.regressions", "suspects"),
    ("planwatch.analysis.regressions", "evaluate"), ("planwatch.analysis.hotspots", "shifts"),
    ("planwatch.storage.baselines", "load"), ("planwatch.storage.alerts", "find_active"),
    ("planwatch.jobs.analysis", "_transitions"), ("planwatch.jobs.analysis", "_newcomers"),
    ("planwatch.jobs.analysis", "_learn"), ("planwatch.jobs.analysis", "_group"),
    ("planwatch.jobs.plan_evidence", "known"), ("planwatch.jobs.analysis", "analyze_target"),
    ("planwatch.collectors.core", "Cycle._collect"),
    ("planwatch.collectors.postgres", "PostgresEngine.snapshot"),
    ("planwatch.collectors.postgres", "PostgresEngine.compute"),
    ("planwatch.collectors.core", "Cycle.saved_state"),
    ("planwatch.collectors.core", "Cycle._observe"),
    ("planwatch.collectors.core", "Cycle._annotate"),
    ("planwatch.collectors.core", "Cycle._capture_plans"),
    ("planwatch.collectors.core", "Cycle._learn_texts"),
    ("planwatch.collectors.pg_counters", "to_samples"),
    ("planwatch.collectors.postgres", "PostgresEngine.waits"),
    ("planwatch.collectors.postgres", "PostgresEngine.health"),
    ("planwatch.jobs.collection", "_restore"), ("planwatch.jobs.collection", "_requests"),
    ("planwatch.jobs.collection", "_collect_exclusively"),
    ("planwatch.storage.queries", "ensure_ids"), ("planwatch.storage.samples", "_upsert"),
    ("planwatch.storage.collector_state", "store_poll"), ("planwatch.storage.samples", "write"),
    ("planwatch.storage.targets", "set_status"), ("planwatch.storage.plan_requests", "pending"),
    ("planwatch.storage.plan_requests", "record"), ("planwatch.storage.job_runs", "start"),
    ("planwatch.storage.job_runs", "finish"), ("planwatch.jobs.collection", "_persist"),
)


def time_phases(spent: dict[str, float]) -> None:
    """Wrap each of PHASES to add its CPU seconds to `spent` (nested calls count in both)."""
    import importlib

    for module_name, attr in PHASES:
        owner: Any = importlib.import_module(module_name)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        fn = getattr(owner, name)

        def timed(*args: Any, _fn: Any = fn, _key: str = f"{module_name}.{attr}",
                  **kwargs: Any) -> Any:
            t0 = time.process_time()
            try:
                return _fn(*args, **kwargs)
            finally:
                spent[_key] = spent.get(_key, 0.0) + time.process_time() - t0

        setattr(owner, name, timed)


def workload(statements: int) -> bytes:
    """Distinct parse trees (1..n output columns), one multi-statement round trip."""
    return ";".join("SELECT " + ",".join(["1"] * k) for k in range(1, statements + 1)).encode()


def settings(storage_url: str, dsns: list[str], interval: int, analysis: int) -> Settings:
    targets = [{"name": f"t{i:03d}", "engine": "postgresql", "dsn": dsn, "plan_capture": True}
               for i, dsn in enumerate(dsns)]
    return common.settings(storage_url, targets, scheduling={
        "jitter": "0s",
        "collection": {"interval": f"{interval}s"},
        "analysis": {"interval": f"{analysis}s"},
        "heartbeat": {"interval": "15s"},
    })


class GcMeter:
    """CPU seconds the cyclic garbage collector takes, by generation (gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self._t0 = 0.0
        self.on = False

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.process_time()
        elif self.on:
            self.seconds[info["generation"]] += time.process_time() - self._t0


class Meter:
    """CPU seconds of this process per kind of job, and an optional profiler around them."""

    def __init__(self) -> None:
        self.cpu: dict[str, list[float]] = {"poll": [], "analysis": [], "heartbeat": []}
        self.profiler: cProfile.Profile | None = None
        self.phases: dict[str, float] = {}  # filled by `time_phases`, measured rounds only
        self.gc = GcMeter()

    async def run(self, kind: str, jobs: list[Callable[[], Any]], measured: bool) -> float:
        if measured and self.profiler is not None:
            self.profiler.enable()
        t0 = time.process_time()
        for job in jobs:
            outcome = await job()
            if outcome.result_status.value == "error" or not outcome.data:
                raise RuntimeError(f"{kind} failed: {outcome.message}")
        spent = time.process_time() - t0
        if measured and self.profiler is not None:
            self.profiler.disable()
        if measured:
            self.cpu[kind].append(spent / len(jobs))
        return spent


async def drive(cfg: Settings, databases: list[str], cluster: pgcluster.PgCluster,
                args: argparse.Namespace, meter: Meter, sim: type[SimulatedClock]) -> None:
    batch = workload(args.statements)
    conns = [psycopg.connect(cluster.dsn(db), autocommit=True) for db in databases]
    if meter.profiler is not None:
        asyncio.get_running_loop().set_default_executor(InlineExecutor())
        app_module.ContextPool = InlineExecutor  # type: ignore[misc,assignment]
    try:
        async with App(cfg) as app:
            if not args.gc_default:
                daemon.tune_gc()  # as `planwatch run` does once started
            run = app.scheduler.run_once
            names = [f"collection:{t.name}" for t in cfg.targets]
            for round_ in range(args.warmup + args.rounds):
                measured = round_ >= args.warmup
                if round_ == args.warmup:
                    meter.phases.clear()
                    meter.gc.on = True
                for _ in range(args.interval // 15):
                    sim.offset += timedelta(seconds=15)
                    await meter.run("heartbeat", [lambda: run("heartbeat")], measured)
                for conn in conns:
                    conn.pgconn.exec_(batch)
                spent = await meter.run("poll", [lambda n=n: run(n) for n in names], measured)
                line = f"round {round_:3d} polls {spent / len(names) * 1000:6.1f} ms/target"
                if (round_ + 1) % args.analysis_every == 0:
                    spent = await meter.run("analysis", [lambda: run("analysis")], measured)
                    line += f"  analysis {spent / len(names) * 1000:6.1f} ms/target"
                print(line + ("" if measured else "  (warm-up)"), flush=True)
    finally:
        for conn in conns:
            conn.close()


def report(meter: Meter, targets: int, args: argparse.Namespace) -> dict[str, Any]:
    # Means, not medians: CPU adds up, and the rounds that capture plans or grow learning
    # baselines cost more than the others.
    poll = statistics.fmean(meter.cpu["poll"]) * 1000
    analysis = statistics.fmean(meter.cpu["analysis"]) / targets * 1000 if meter.cpu[
        "analysis"] else float("nan")
    beat = statistics.fmean(meter.cpu["heartbeat"]) * 1000
    polls_per_hour = 3600 / args.interval
    per_hour = (poll * polls_per_hour + analysis * polls_per_hour / args.analysis_every
                + beat * 240 / targets) / 1000
    return {"targets": targets, "statements": args.statements,
            "poll_ms": round(poll, 2), "analysis_ms_per_target": round(analysis, 2),
            "heartbeat_ms": round(beat, 2), "cpu_s_per_target_hour": round(per_hour, 3),
            "targets_per_core": round(3600 / per_hour) if per_hour else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=30)
    parser.add_argument("--statements", type=int, default=200)
    parser.add_argument("--interval", type=int, default=60, help="simulated seconds per poll")
    parser.add_argument("--analysis-every", type=int, default=5, help="rounds per analysis")
    parser.add_argument("--warmup", type=int, default=15, help="rounds not measured [15]")
    parser.add_argument("--rounds", type=int, default=15, help="rounds measured [15]")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="cProfile the measured rounds; print the top N functions")
    parser.add_argument("--phases", action="store_true",
                        help="CPU seconds of the main functions over the measured rounds")
    parser.add_argument("--profile-file", help="with --profile: save the pstats here too")
    parser.add_argument("--json", help="save the raw results here")
    parser.add_argument("--gc-default", action="store_true",
                        help="leave CPython's garbage collector as it is (the worker tunes it)")
    args = parser.parse_args()
    logs.configure(args.log_level, "json", stream=sys.stderr)
    meter = Meter()
    gc.callbacks.append(meter.gc)
    if args.phases:
        time_phases(meter.phases)
    if args.profile:
        meter.profiler = cProfile.Profile(time.process_time)
    print(common.machine(), flush=True)
    with ExitStack() as stack:
        monitored = stack.enter_context(pgcluster.running_cluster({
            "max_connections": str(args.targets * 3 + 40),
            "pg_stat_statements.max": str(args.targets * (args.statements + 50) + 1000)}))
        storage = stack.enter_context(pgcluster.running_cluster({"max_connections": "100"}))
        sim = stack.enter_context(simulated_clock())
        databases = [f"d{i:03d}" for i in range(args.targets)]
        monitored.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", "template1")
        with psycopg.connect(monitored.dsn(), autocommit=True) as conn:
            for db in databases:
                conn.execute(f"CREATE DATABASE {db}")
        storage.psql("CREATE DATABASE bench")
        cfg = settings(storage.url("bench"), [monitored.dsn(db) for db in databases],
                       args.interval, args.interval * args.analysis_every)
        asyncio.run(drive(cfg, databases, monitored, args, meter, sim))
    result = report(meter, args.targets, args)
    target_hours = args.rounds * args.interval / 3600 * args.targets
    result["gc_s_per_target_hour"] = round(sum(meter.gc.seconds) / target_hours, 3)
    print(common.table(list(result), [list(result.values())]))
    print(common.load_line())
    if meter.profiler is not None:
        out = io.StringIO()
        pstats.Stats(meter.profiler, stream=out).sort_stats("tottime").print_stats(args.profile)
        out.write("\n--- cumulative ---\n")
        pstats.Stats(meter.profiler, stream=out).sort_stats("cumulative").print_stats(
            args.profile)
        print(out.getvalue())
        if args.profile_file:
            meter.profiler.dump_stats(args.profile_file)
    for key, seconds in sorted(meter.phases.items(), key=lambda kv: -kv[1]):
        print(f"{seconds:8.3f} s  {key}")
    common.write_json(args.json, "worker_cpu", {"options": vars(args), "result": result,
                                                "samples": meter.cpu})


if __name__ == "__main__":
    main()

"""Benchmark: a collector's `collect()` alone, two source trees against each other (A/B).

For refactors of the collectors: the same throwaway server (PostgreSQL with 5,000
pg_stat_statements entries, or MariaDB with 5,000 digests) is polled by child processes that
import planwatch from `--before` and from `--after` in turn, alternating per round. Each child
makes a collector (plan capture off), takes its first poll, then `--polls` steady polls with
the workload re-run before each, and reports the median CPU and wall time of `collect()`.
CPU time is the figure to compare on a shared machine: the wall time includes the server's side
and whatever else the cores are doing. A tree is a checkout's root (`git worktree add
/tmp/main main`, or `git archive main | tar -x -C /tmp/main`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


def child(engine: str, dsn: str, connect: dict[str, Any], polls: int, count: int) -> None:
    """One side's polls; prints {"cpu": s, "wall": s} (medians per steady poll)."""
    from planwatch.collectors import base
    from planwatch.config.settings import Secret, TargetSettings

    if engine == "postgresql":
        import collection_cycle as workload
        import psycopg

        work: Any = psycopg.connect(dsn, autocommit=True, prepare_threshold=None)
    else:
        import mariadb_collection_cycle as workload
        import pymysql

        work = pymysql.connect(**connect)
    stmts = workload.statements(count)
    collector = base.create(TargetSettings(name="ab", engine=engine, dsn=Secret(dsn),
                                           plan_capture=False))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    workload.run_workload(work, stmts)
    collector.collect(at)
    cpu, wall = [], []
    for _ in range(polls):
        workload.run_workload(work, stmts)
        at += timedelta(minutes=5)
        c0, w0 = time.process_time(), time.perf_counter()
        result = collector.collect(at)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        if len(result.samples) < count:
            raise SystemExit(f"only {len(result.samples)} samples in a steady poll")
    collector.close()
    print(json.dumps({"cpu": statistics.median(cpu), "wall": statistics.median(wall)}))


@contextmanager
def server(engine: str, count: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """A throwaway server with the workload's schema: (DSN, pymysql arguments)."""
    from planwatch.devtools import mariadbserver, pgcluster

    if engine == "postgresql":
        import collection_cycle

        with pgcluster.running_cluster({"pg_stat_statements.max": "10000",
                                        "pg_stat_statements.track": "top"}) as cluster:
            cluster.psql("CREATE DATABASE bench")
            cluster.psql("CREATE EXTENSION pg_stat_statements", "bench")
            collection_cycle.create_schema(cluster, "bench", count)
            yield cluster.dsn("bench"), {}
    else:
        import mariadb_collection_cycle

        settings = {"performance-schema-digests-size": str(2 * count)}
        with mariadbserver.running_server(settings) as maria:
            maria.sql("CREATE DATABASE bench")
            mariadb_collection_cycle.create_schema(maria, "bench", count)
            yield maria.url("bench"), maria.dsn("bench")


def run_side(tree: Path, args: argparse.Namespace, dsn: str,
             connect: dict[str, Any]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{BENCH}"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--engine", args.engine,
           "--polls", str(args.polls), "--statements", str(args.statements),
           "--dsn", dsn, "--connect", json.dumps(connect)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{tree}: {done.stderr.strip()[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--engine", choices=("postgresql", "mariadb"), default="postgresql")
    parser.add_argument("--before", type=Path, help="root of the tree to compare against")
    parser.add_argument("--after", type=Path, default=BENCH.parent,
                        help="root of the tree under test (default: this checkout)")
    parser.add_argument("--rounds", type=int, default=5, help="child processes per side")
    parser.add_argument("--polls", type=int, default=15, help="steady polls per child")
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dsn", help=argparse.SUPPRESS)
    parser.add_argument("--connect", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.engine, args.dsn, json.loads(args.connect), args.polls, args.statements)
        return 0
    if args.before is None:
        parser.error("--before is required")
    sides = {"before": args.before.resolve(), "after": args.after.resolve()}
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    with server(args.engine, args.statements) as (dsn, connect):
        for _ in range(args.rounds):
            for side, tree in sides.items():
                runs[side].append(run_side(tree, args, dsn, connect))
                print(f"{side:6s} cpu {runs[side][-1]['cpu']:.4f} s  "
                      f"wall {runs[side][-1]['wall']:.4f} s", flush=True)
    cpu = {side: statistics.median(r["cpu"] for r in rs) for side, rs in runs.items()}
    for side, rs in runs.items():
        print(f"{side}: median collect() CPU {cpu[side]:.4f} s, wall "
              f"{statistics.median(r['wall'] for r in rs):.4f} s ({sides[side]})")
    print(f"after / before CPU: {cpu['after'] / cpu['before']:.3f}; "
          f"{os.getloadavg()[0]:.1f} load average at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())

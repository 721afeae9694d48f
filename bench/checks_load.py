"""SQL-check load: planwatch vs query-exporter vs a bare asyncio + psycopg loop.

All three run, one after the other, against the same throwaway PostgreSQL: N checks
(default 200), each every second, for a measured window (default 60 s) after a warm-up.
Each runs in its own process; this script samples that process's CPU time and RSS with
psutil and counts executions from the process itself (/metrics for planwatch and
query-exporter, a signal-triggered count for the bare loop). query-exporter (PyPI) is
installed into its own virtualenv (`--qe-venv`), so its dependencies never meet ours.

    .venv/bin/python bench/checks_load.py [--checks 200] [--seconds 60] [--json out.json]

The bare loop (`--bare`, started by this script) is the floor: the same queries through 5
pooled autocommit connections, no judging, no storage, no metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import common
import psutil

from planwatch.devtools import pgcluster

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
QE_VENV = Path.home() / ".cache" / "planwatch-bench" / "qe-venv"
CONNECTIONS = 5  # planwatch max_parallel_checks default; the same for the others


def query(i: int) -> str:
    return f"SELECT count(*) AS m{i} FROM kpi_items WHERE bucket = {i % 50}"


# -- the bare loop (runs in its own process) --------------------------------------------


async def bare_loop(dsn: str, checks: int) -> None:
    """Every query every second at a fixed phase; SIGUSR1 marks the window, SIGTERM ends."""
    import psycopg

    pool: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        pool.put_nowait(await psycopg.AsyncConnection.connect(dsn, autocommit=True))
    done, lags, marks = [0], [], []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: marks.append((done[0], len(lags))))
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    async def one(i: int) -> None:
        due = loop.time() + i / checks
        sql = query(i)
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            conn = await pool.get()
            lags.append(loop.time() - due)
            try:
                await (await conn.execute(sql)).fetchall()
            finally:
                pool.put_nowait(conn)
            done[0] += 1
            due += 1.0
            while due < loop.time():  # coalesce missed ticks, as the others do
                due += 1.0

    tasks = [asyncio.create_task(one(i)) for i in range(checks)]
    await stop.wait()
    for t in tasks:
        t.cancel()
    (n0, l0), (n1, l1) = marks[0], marks[-1]
    window = sorted(lags[l0:l1])
    p99 = window[int(0.99 * (len(window) - 1))] if window else 0.0
    print(json.dumps({"executions": n1 - n0, "lag_p99_s": p99}), flush=True)


# -- measuring one contender -------------------------------------------------------------


def measure(name: str, proc: subprocess.Popen[bytes], warmup: float, seconds: float,
            count: Any) -> dict[str, Any]:
    """CPU seconds and executions over the window, peak RSS over the whole run."""
    ps = psutil.Process(proc.pid)
    peak = 0
    deadline = time.monotonic() + warmup
    while time.monotonic() < deadline:
        peak = max(peak, ps.memory_info().rss)
        time.sleep(0.2)
    c0, n0 = _cpu(ps), count("start")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        peak = max(peak, ps.memory_info().rss)
        time.sleep(0.2)
    c1, n1 = _cpu(ps), count("end")
    extra = count("stop")
    executions = n1 - n0 if n0 is not None else extra["executions"]
    cpu = c1 - c0
    return {
        "name": name, "cpu_s": round(cpu, 2), "executions": executions,
        "cpu_s_per_1000": round(cpu / executions * 1000, 3) if executions else None,
        "peak_rss_mb": round(peak / 2**20, 1),
        "lag_p99_ms": round(extra.get("lag_p99_s", float("nan")) * 1000, 1)
        if extra.get("lag_p99_s") is not None else None,
        **{k: v for k, v in extra.items() if k.startswith(("per_check", "checks_"))},
    }


def _cpu(ps: psutil.Process) -> float:
    t = ps.cpu_times()
    return float(t.user + t.system)


def _scrape(port: int, attempts: int = 5) -> str:
    """GET /metrics; an HTTP error is reported on stderr and retried."""
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                return str(r.read().decode())
        except urllib.error.HTTPError as exc:
            print(f"scrape failed ({exc.code}): {exc.read()[:500]!r}", file=sys.stderr)
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


def _sum(text: str, pattern: str) -> float:
    return sum(float(m) for m in re.findall(pattern + r"\S* ([0-9.e+]+)$", text, re.M))


def _quantile(text: str, histogram: str, q: float) -> float:
    """Upper bound of the bucket holding quantile `q` of a histogram in an exposition (what
    Prometheus' histogram_quantile interpolates inside; the bound is the honest figure)."""
    buckets = sorted(
        (float("inf") if le == "+Inf" else float(le), float(n))
        for le, n in re.findall(histogram + r'_bucket\{le="([^"]+)"\} ([0-9.e+]+)$', text, re.M))
    total = buckets[-1][1] if buckets else 0.0
    return next((le for le, n in buckets if total and n >= q * total), 0.0)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the three contenders ----------------------------------------------------------------


def run_planwatch(cluster: pgcluster.PgCluster, db: str, checks: int, work: Path,
                  warmup: float, seconds: float) -> dict[str, Any]:
    port = pgcluster.free_port()
    lines = [
        f"storage: {{url: 'sqlite:///{work / 'planwatch.db'}'}}",
        f"http: {{port: {port}}}",
        "logging: {level: warning, format: json}",
        f"targets: [{{name: bench, dsn: '{cluster.url(db)}'}}]",
        "scheduling:",
        *[f"  {job}: {{enabled: false}}" for job in
          ("collection", "analysis", "baseline_rebuild", "daily_summary")],
        f"  max_parallel_checks: {CONNECTIONS}",
        "checks:",
        *[f"  - {{name: q{i}, target: bench, sql: \"{query(i)}\", warning: '> 1000000', "
          f"interval: 1s, timeout: 5s}}" for i in range(checks)],
    ]
    config = work / "planwatch.yaml"
    config.write_text("\n".join(lines) + "\n")
    with (work / "planwatch.log").open("wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen([str(Path(PYTHON).parent / "planwatch"), "-c", str(config), "run"],
                                stdout=subprocess.DEVNULL, stderr=log)
    state: dict[str, Any] = {}

    def count(phase: str) -> Any:
        if phase == "stop":
            lag = _quantile(_scrape(port), "planwatch_check_schedule_lag_seconds", 0.99)
            _stop(proc)
            return {"lag_p99_s": lag, **_per_check(work / "planwatch.db", state, seconds)}
        state[phase + "_at"] = datetime.now(UTC).replace(tzinfo=None)
        state[phase] = _sum(_scrape(port), r"^planwatch_check_runs_total")
        return state[phase]

    _wait_http(port)
    return measure("planwatch", proc, warmup, seconds, count)


def _per_check(db: Path, state: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Executions per check inside the window, from planwatch's own check_results: a
    check with fewer than `seconds - 1` (the window cuts at most one run) missed ticks."""
    conn = sqlite3.connect(db)
    try:
        counts = [n for (n,) in conn.execute(
            "SELECT count(*) FROM check_results WHERE executed_at >= ? AND executed_at < ? "
            "GROUP BY check_name", (state["start_at"].isoformat(" "),
                                    state["end_at"].isoformat(" ")))]
    finally:
        conn.close()
    short = sum(1 for n in counts if n < seconds - 1)
    return {"per_check_min": min(counts, default=0), "per_check_max": max(counts, default=0),
            "checks_missing_ticks": short}


def run_query_exporter(cluster: pgcluster.PgCluster, db: str, checks: int, work: Path,
                       warmup: float, seconds: float, venv: Path) -> dict[str, Any]:
    _ensure_qe(venv)
    port = pgcluster.free_port()
    config = {
        "databases": {"bench": {"dsn": cluster.url(db).replace("+psycopg", "+psycopg2"),
                                "connection-pool": {"size": CONNECTIONS}}},
        "metrics": {f"m{i}": {"type": "gauge"} for i in range(checks)},
        "queries": {f"q{i}": {"databases": ["bench"], "metrics": [f"m{i}"], "sql": query(i),
                              "interval": 1, "timeout": 5} for i in range(checks)},
    }
    path = work / "query-exporter.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    with (work / "query-exporter.log").open("wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [str(venv / "bin" / "query-exporter"), "--config", str(path), "-p", str(port),
             "-H", "127.0.0.1", "-L", "warning"],
            stdout=subprocess.DEVNULL, stderr=log)

    def count(phase: str) -> Any:
        if phase == "stop":
            _stop(proc)
            return {"lag_p99_s": None}
        return _sum(_scrape(port), r'^queries_total\{[^}]*status="success"')

    _wait_http(port)
    return measure("query-exporter", proc, warmup, seconds, count)


def run_bare(cluster: pgcluster.PgCluster, db: str, checks: int, warmup: float,
             seconds: float) -> dict[str, Any]:
    dsn = cluster.dsn(db)
    proc = subprocess.Popen([PYTHON, __file__, "--bare", dsn, "--checks", str(checks)],
                            stdout=subprocess.PIPE)

    def count(phase: str) -> Any:
        if phase != "stop":
            proc.send_signal(signal.SIGUSR1)
            return None
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        return json.loads(out.decode().strip().splitlines()[-1])

    time.sleep(1.0)
    return measure("bare asyncio + psycopg", proc, warmup, seconds, count)


def _wait_http(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _scrape(port)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _ensure_qe(venv: Path) -> None:
    """query-exporter in its own virtualenv (created once, then reused)."""
    if (venv / "bin" / "query-exporter").exists():
        return
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "query-exporter>=5",
                    "psycopg2-binary>=2.9"], check=True)


def _prepare(cluster: pgcluster.PgCluster) -> str:
    db = "checks_bench"
    cluster.psql(f"CREATE DATABASE {db}")
    cluster.psql("CREATE TABLE kpi_items (id serial PRIMARY KEY, bucket int, v int);"
                 "INSERT INTO kpi_items (bucket, v) SELECT g % 50, g FROM generate_series(1, "
                 "10000) g; CREATE INDEX ON kpi_items (bucket); ANALYZE kpi_items;", db)
    return db


def _medians(rows: list[dict[str, Any]]) -> dict[str, float]:
    names = {r["name"] for r in rows}
    return {n: statistics.median(r["cpu_s_per_1000"] for r in rows
                                 if r["name"] == n and r["cpu_s_per_1000"] is not None)
            for n in sorted(names)}


def _versions(venv: Path) -> dict[str, str]:
    out = subprocess.run([str(venv / "bin" / "pip"), "show", "query-exporter"],
                         capture_output=True, text=True, check=False).stdout
    qe = re.search(r"^Version: (\S+)", out, re.M)
    import psycopg

    return {"query_exporter": qe.group(1) if qe else "?", "psycopg": psycopg.__version__}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checks", type=int, default=200)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--warmup", type=float, default=8.0)
    p.add_argument("--rounds", type=int, default=1, help="repeat, alternating the order")
    p.add_argument("--qe-venv", type=Path, default=QE_VENV)
    p.add_argument("--only", choices=["planwatch", "query-exporter", "bare"], action="append")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--bare", metavar="DSN", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.bare:
        asyncio.run(bare_loop(args.bare, args.checks))
        return
    only = set(args.only or ["planwatch", "query-exporter", "bare"])
    cluster = pgcluster.start_cluster({"max_connections": "100"})
    try:
        db = _prepare(cluster)
        facts = common.machine(cluster)
        contenders = {
            "bare": lambda work: run_bare(cluster, db, args.checks, args.warmup, args.seconds),
            "planwatch": lambda work: run_planwatch(cluster, db, args.checks, work,
                                                    args.warmup, args.seconds),
            "query-exporter": lambda work: run_query_exporter(
                cluster, db, args.checks, work, args.warmup, args.seconds, args.qe_venv),
        }
        order = [n for n in contenders if n in only]
        rows = []
        for round_no in range(args.rounds):  # alternate the order: A B C, C B A, ...
            for name in order if round_no % 2 == 0 else order[::-1]:
                with tempfile.TemporaryDirectory(prefix="planwatch-checks-bench-") as tmp:
                    row = contenders[name](Path(tmp))
                row["round"], row["load_after"] = round_no + 1, common.load_line()
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
        result = {"machine": facts, "versions": _versions(args.qe_venv),
                  "checks": args.checks, "seconds": args.seconds,
                  "expected_executions": int(args.checks * args.seconds),
                  "median_cpu_s_per_1000": _medians(rows), "results": rows}
        print(json.dumps(result, indent=2))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        cluster.cleanup()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()

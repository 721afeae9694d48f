"""Dashboard render latency under load: overview and query pages with 20 concurrent clients.

Storage holds 10,000 queries, 7 days of 5-minute samples for the top 100 (201,600 rows) and
1,000 alerts. A real worker (`planwatch run`, only heartbeat and health jobs enabled) serves
the pages on loopback; N concurrent clients request a page in a closed loop and every
request's latency is recorded (time to the last byte). Target: p95 <= 150 ms.

    .venv/bin/python bench/dashboard.py [--postgres] [--requests 400] [--quick] [--json PATH]

The page-data cache (web/cache.py, shared for 2 s) is measured on, as shipped, and off as
the baseline (every request reads storage).

Without --storage-url the storage is a fresh SQLite file; with `--postgres` a throwaway
PostgreSQL cluster (planwatch.devtools.pgcluster) is started for it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import common
import httpx
import yaml

from planwatch.clock import utcnow
from planwatch.config.settings import Secret, TargetSettings
from planwatch.devtools import pgcluster
from planwatch.model.alerts import Alert, AlertKind, AlertStatus
from planwatch.model.findings import Severity
from planwatch.model.samples import CapturedPlan, QueryRef, QuerySample, StatementText
from planwatch.storage import alerts, plans, queries, samples, targets
from planwatch.storage.engine import Storage
from planwatch.web import common as common_web

N_QUERIES, N_TOP, N_ALERTS, DAYS = 10_000, 100, 1_000, 7
STEP = timedelta(minutes=5)
TARGETS = [f"db-{i:02d}" for i in range(10)]
TARGET_P95_MS = 150.0
# `planwatch -c CONFIG run`, with the page-data cache TTL of the web layer set first
# (0 = every request reads storage), so the cost of uncached pages can be measured too.
LAUNCHER = """
import sys
from planwatch.web import common
common.PAGE_DATA_TTL_S = float(sys.argv[2])
from planwatch.cli import main
sys.exit(main(["-c", sys.argv[1], "run"]))
"""


def _ref(i: int) -> QueryRef:
    return QueryRef(TARGETS[i % len(TARGETS)], "app", str(1_000_000 + i), f"fp{i}")


def seed(st: Storage, now: datetime) -> int:
    """Fill storage; returns the storage id of a top query with a plan change."""
    targets.sync(st, [TargetSettings(t, "postgresql", Secret("postgresql://x@h/app"))
                      for t in TARGETS], now)
    refs = [_ref(i) for i in range(N_QUERIES)]
    queries.set_texts(st, [StatementText(r, f"SELECT c{i} FROM t{i % 97} WHERE id = $1 "
                                            f"AND status = $2 ORDER BY created_at LIMIT 50")
                           for i, r in enumerate(refs)], now)
    start = now.replace(second=0, microsecond=0) - timedelta(days=DAYS)
    start -= timedelta(minutes=start.minute % 5)
    change = start + timedelta(days=DAYS - 1)
    batch: list[QuerySample] = []
    t = start
    while t < now - STEP:
        for i in range(N_TOP):
            slow = i % 10 == 0 and t >= change
            batch.append(QuerySample(refs[i], t, t + STEP, calls=100 + i, rows=100 + i,
                                     total_ms=(400.0 if slow else 100.0) + i, blks_hit=50,
                                     blks_read=5, plan_hash=f"p{i}b" if slow else f"p{i}a"))
        if len(batch) >= 20_000:
            samples.insert(st, batch)
            batch = []
        t += STEP
    samples.insert(st, batch)
    plans.upsert(st, [CapturedPlan(refs[i], f"p{i}{v}", '{"op": "Seq Scan"}', "{}", at)
                      for i in range(N_TOP) for v, at in (("a", start), ("b", change))])
    for i in range(N_ALERTS):
        ref = refs[i % N_QUERIES]
        status = AlertStatus.OPEN if i < 200 else AlertStatus.RESOLVED
        alerts.create(st, Alert(
            id=None, dedup_key=f"regression:{ref.target}:app:{ref.query_id}:{i}",
            kind=AlertKind.REGRESSION, status=status,
            severity=Severity.CRITICAL if i % 7 == 0 else Severity.WARNING, target=ref.target,
            database="app", subject=ref.query_id, title=f"query {ref.query_id} slower",
            query_id=ref.query_id, query_text=f"SELECT c{i}", plan_changed=i % 2 == 0,
            baseline_ms=1.0, current_ms=3.0, ratio=2.0 + (i % 50) / 10,
            opened_at=now - timedelta(hours=i % 48), updated_at=now - timedelta(minutes=i),
            resolved_at=None if status is AlertStatus.OPEN else now,
        ), actor="bench")
    return queries.upsert(st, [refs[0]], now)[refs[0]]


@contextlib.contextmanager
def worker(storage_url: str, tmp: Path, cache_ttl_s: float) -> Iterator[tuple[str, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    quiet = ("collection", "analysis", "checks", "baseline_rebuild", "daily_summary",
             "alert_processing", "retention_cleanup", "maintenance")
    config = tmp / "planwatch.yaml"
    config.write_text(yaml.safe_dump({
        "storage": {"url": storage_url},
        "targets": [{"name": t, "engine": "postgresql", "dsn": "postgresql://x@127.0.0.1:1/app"}
                    for t in TARGETS],
        "scheduling": {name: {"enabled": False} for name in quiet},
        "http": {"port": port}, "logging": {"level": "warning", "format": "json"},
    }))
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(config), str(cache_ttl_s)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
               request: bytes) -> int:
    """One keep-alive GET; returns the status. A deliberately minimal client: on a 2-core
    machine a full HTTP client library would cost more CPU than the server it measures."""
    writer.write(request)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "transfer-encoding":
            raise RuntimeError("chunked responses are not expected here")
    await reader.readexactly(length)
    return status


async def load(base: str, pid: int, path: str, total: int, concurrency: int) -> dict[str, Any]:
    host, port = base.removeprefix("http://").split(":")
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    conns = [await asyncio.open_connection(host, int(port)) for _ in range(concurrency)]
    latencies: list[float] = []
    remaining = total

    async def warm(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):  # templates compiled, caches filled, every connection used
            assert await _get(reader, writer, request) == 200

    async def one_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            status = await _get(reader, writer, request)
            latencies.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                raise RuntimeError(f"{path}: HTTP {status}")

    await asyncio.gather(*(warm(r, w) for r, w in conns))
    t0, cpu0 = time.perf_counter(), cpu_seconds(pid)
    await asyncio.gather(*(one_client(r, w) for r, w in conns))
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    for _, w in conns:
        w.close()
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))]  # noqa: E731
    return {"path": path, "n": len(latencies), "p50": pct(0.50), "p95": pct(0.95),
            "p99": pct(0.99), "max": latencies[-1], "rps": len(latencies) / wall,
            "server_cpu_ms": cpu * 1000 / len(latencies)}


def measure(url: str, tmp: Path, pk: int, ttl: float, args: argparse.Namespace) -> list[Any]:
    """Start a worker with this page-data cache TTL and load each page in turn (the first
    two, overview and query page, are the ones with the 150 ms goal)."""
    pages = ["/", f"/queries/{pk}", f"/queries/{pk}?range=7d", "/alerts",
             f"/api/v1/queries/{pk}/series?range=7d"]
    with worker(url, tmp, ttl) as (base, pid):
        return [asyncio.run(load(base, pid, p, args.requests, args.concurrency)) for p in pages]


def report(results: list[dict[str, Any]], title: str) -> None:
    print(f"\n{title}")
    print(common.table(
        ["page", "p50 ms", "p95 ms", "p99 ms", "max ms", "req/s", "server CPU ms/req",
         "p95 <= 150 ms"],
        [[r["path"], r["p50"], r["p95"], r["p99"], r["max"], r["rps"], r["server_cpu_ms"],
          common.verdict(r["p95"] <= TARGET_P95_MS) if i < 2 else "(no goal)"]
         for i, r in enumerate(results)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage-url", help="existing empty storage (default: SQLite file)")
    parser.add_argument("--postgres", action="store_true", help="throwaway PostgreSQL storage")
    parser.add_argument("--requests", type=int, default=400, help="requests per page")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="smoke run (60 requests per page)")
    parser.add_argument("--json", help="write raw results here")
    args = parser.parse_args()
    if args.quick:
        args.requests = 60
    common.quiet_logs()
    with tempfile.TemporaryDirectory() as tmp_name, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        cluster = None
        url = args.storage_url or f"sqlite:///{tmp / 'planwatch.db'}"
        if args.postgres:
            cluster = pgcluster.start_cluster()
            stack.callback(cluster.cleanup)
            cluster.psql("CREATE DATABASE bench_dashboard")
            url = cluster.url("bench_dashboard")
        st = Storage.open(url)
        st.migrate()
        t0 = time.perf_counter()
        pk = seed(st, utcnow())
        st.close()
        print(f"seeded {N_QUERIES:,} queries, {N_TOP} x {DAYS} days of 5-minute samples, "
              f"{N_ALERTS:,} alerts in {time.perf_counter() - t0:.0f}s ({url.split(':')[0]})")
        # planwatch as shipped (page data shared for PAGE_DATA_TTL_S), then the baseline:
        # the same worker with the cache off, every request reading storage.
        ttl = common_web.PAGE_DATA_TTL_S
        shipped = measure(url, tmp, pk, ttl, args)
        uncached = measure(url, tmp, pk, 0.0, args)
        facts = common.machine(cluster)
    print(f"{args.concurrency} concurrent clients, {args.requests} requests per page; "
          f"{common.load_line()}")
    report(shipped, f"planwatch (page data shared for {ttl:g} s, rendered per request)")
    report(uncached, "baseline: page-data cache off (every request reads storage)")
    common.write_json(args.json, "dashboard", {
        "machine": facts, "storage": url.split(":")[0], "shipped": shipped,
        "uncached": uncached, "pid": os.getpid()})


if __name__ == "__main__":
    main()

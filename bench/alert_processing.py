"""Benchmark: one alert-processing cycle over 10,000 open alerts (issue 4: <= 1 s per cycle).

Measures `jobs.alert_processing.prepare` — silences, escalation, auto-resolve timeout and
routing into the outbox, everything the job does in storage — in three situations:

- steady: 10,000 open alerts whose events are already routed, nothing due (every 30 s);
- burst: 10,000 alerts just opened, 10,000 "opened" events routed to two channels
  (20,000 outbox rows written);
- escalation: 10,000 alerts past `escalation.after` escalated at once, their "escalated"
  events routed to the escalation channel.

Delivery (network) is not included: each channel's sends run concurrently and are bounded by
their own timeouts. Storage: SQLite file and (with --postgresql) a throwaway PostgreSQL.
Run: .venv/bin/python bench/alert_processing.py [--alerts 10000] [--repeat 3] [--postgresql]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import common
import sqlalchemy as sa

from planwatch.devtools import pgcluster
from planwatch.jobs import alert_processing
from planwatch.storage.engine import Storage
from planwatch.storage.tables import alert_events, alerts, metadata

GOAL_S = 1.0
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def config(url: str) -> Any:
    return common.settings(url, alerting={
        "channels": [{"name": "team", "url": "webhook+http://127.0.0.1:9/hook"},
                     {"name": "pager", "url": "json://127.0.0.1:9/", "min_severity": "critical"}],
        "escalation": {"after": "30m", "channels": ["pager"]},
    })


def seed(st: Storage, n: int, *, routed: bool) -> None:
    """n open critical regression alerts opened at T0, each with its "opened" event."""
    rows = [{
        "dedup_key": f"regression:db{i % 50}:shop:{i}", "kind": "regression", "status": "open",
        "severity": "critical", "target": f"db{i % 50}", "database": "shop", "subject": str(i),
        "title": f"query {i} is 6.0x slower (plan changed)", "query_id": str(i),
        "query_text": "SELECT * FROM orders WHERE id = $1", "plan_changed": True,
        "baseline_ms": 2.0, "current_ms": 12.0, "ratio": 6.0, "opened_at": T0,
        "updated_at": T0, "resolved_at": None, "normal_windows": 0, "details": {},
        "evaluated_at": T0, "escalated_at": None,
    } for i in range(n)]
    with st.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name in ("notification_outbox", "alert_events", "alerts"):
                conn.execute(sa.delete(table))
        ids = conn.execute(sa.insert(alerts).returning(alerts.c.id), rows).scalars().all()
        conn.execute(sa.insert(alert_events), [
            {"alert_id": i, "at": T0, "event": "opened", "actor": "bench", "message": "",
             "data": {}, "routed_at": T0 if routed else None} for i in ids])


def measure(st: Storage, settings: Any, now: datetime) -> tuple[float, float, dict[str, Any]]:
    """Wall seconds, this process's CPU seconds (both threads), and the cycle's counts."""
    t0, c0 = time.perf_counter(), time.process_time()
    counts = alert_processing.prepare(st, settings, now, running_since=T0 - timedelta(days=1))
    return time.perf_counter() - t0, time.process_time() - c0, counts


def scenarios(n: int) -> dict[str, tuple[bool, datetime]]:
    return {
        "steady": (True, T0 + timedelta(minutes=1)),
        "burst (route 10k new)": (False, T0 + timedelta(minutes=1)),
        "escalation (10k due)": (True, T0 + timedelta(minutes=31)),
    }


def run_backend(name: str, url: str, n: int, repeat: int) -> list[list[Any]]:
    st = Storage.open(url)
    st.migrate()
    settings = config(url)
    rows = []
    try:
        for label, (routed, now) in scenarios(n).items():
            times: list[float] = []
            cpu: list[float] = []
            counts: dict[str, Any] = {}
            for _ in range(repeat):
                seed(st, n, routed=routed)
                seconds, cpu_s, counts = measure(st, settings, now)
                times.append(seconds)
                cpu.append(cpu_s)
            spread = common.spread(times)
            rows.append([name, label, n, counts.get("escalated", 0), counts.get("enqueued", 0),
                         spread["median"], spread["max"], common.median(cpu),
                         common.verdict(spread["median"] <= GOAL_S)])
    finally:
        st.close()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--alerts", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--postgresql", action="store_true", help="also on a throwaway PostgreSQL")
    p.add_argument("--json", help="write raw results here")
    args = p.parse_args()
    common.quiet_logs()
    results: list[list[Any]] = []
    cluster = pgcluster.start_cluster() if args.postgresql else None
    try:
        print(common.machine(cluster))
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            results += run_backend("sqlite", url, args.alerts, args.repeat)
        if cluster is not None:
            cluster.psql("CREATE DATABASE bench_alerts")
            results += run_backend("postgresql", cluster.url("bench_alerts"), args.alerts,
                                   args.repeat)
    finally:
        if cluster is not None:
            cluster.cleanup()
    headers = ["storage", "cycle", "open alerts", "escalated", "outbox rows", "median s",
               "max s", "client CPU s", f"median <= {GOAL_S} s"]
    print(common.load_line())
    print(common.table(headers, results))
    common.write_json(args.json, "alert_processing", {"rows": results, "headers": headers})


if __name__ == "__main__":
    main()

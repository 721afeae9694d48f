"""Benchmark: one alert-processing cycle over 10,000 open alerts (issue 4: <= 1 s per cycle),
and the 10,000-alert burst with grouping on and off (issue 12).

Measures `jobs.alert_processing.prepare` — silences, escalation, auto-resolve timeout, routing
into the outbox and batching the due groups into messages, everything the job does in storage —
in these situations:

- steady: 10,000 open alerts whose events are already routed, nothing due (every 30 s);
- burst: 10,000 alerts just opened over 50 targets, 10,000 "opened" events routed to two
  channels (20,000 outbox rows), then batched into messages: with grouping off (`group_by:
  ["..."]`, `group_wait: 0s`: one message per event, as before grouping existed) and with the
  default grouping (by target and kind: one message per target and channel);
- escalation: 10,000 alerts past `escalation.after` escalated at once, their "escalated"
  events routed to the escalation channel (grouping on).

Then, for the grouped burst, the delivery of every message to a local HTTP receiver
(`alerting.delivery.deliver_due`, the job's second half) — with grouping off the same burst
would be 20,000 sends. Storage: SQLite file and (with --postgresql) a throwaway PostgreSQL.
Run: .venv/bin/python bench/alert_processing.py [--alerts 10000] [--repeat 3] [--postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import common
import sqlalchemy as sa

from planwatch.alerting import channels, delivery, grouping
from planwatch.devtools import pgcluster
from planwatch.jobs import alert_processing
from planwatch.storage.engine import Storage
from planwatch.storage.tables import alert_events, alerts, metadata

GOAL_S = 1.0
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CLEARED = ("notification_outbox", "notifications", "notification_groups", "alert_events",
           "alerts")


class Receiver(BaseHTTPRequestHandler):
    """Answers 200 to every POST (the bench's webhook and "pager" endpoint)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def config(url: str, port: int, *, grouped: bool) -> Any:
    alone = {} if grouped else {"group_by": ["..."], "group_wait": "0s"}
    return common.settings(url, alerting={
        "channels": [
            {"name": "team", "url": f"webhook+http://127.0.0.1:{port}/team", **alone},
            {"name": "pager", "url": f"webhook+http://127.0.0.1:{port}/pager",
             "min_severity": "critical", **alone}],
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
        "evaluated_at": T0, "escalated_at": None, "pending_since": None,
    } for i in range(n)]
    with st.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name in CLEARED:
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


def deliver(st: Storage, settings: Any, now: datetime) -> tuple[float, int]:
    """Send every due message to the local receiver; wall seconds and messages sent."""
    ctx = delivery.Context(st, now, asyncio.to_thread, "bench", "http://127.0.0.1")
    by_name = {c.name: (channels.create(c), grouping.policy(c))
               for c in settings.alerting.channels}
    t0 = time.perf_counter()
    stats = asyncio.run(delivery.deliver_due(ctx, by_name))
    return time.perf_counter() - t0, stats.sent


def scenarios() -> dict[str, tuple[bool, bool, datetime]]:
    """label -> (events already routed, grouping on, cycle time)."""
    return {
        "steady": (True, True, T0 + timedelta(minutes=1)),
        "burst, grouping off": (False, False, T0 + timedelta(minutes=1)),
        "burst, grouping on": (False, True, T0 + timedelta(minutes=1)),
        "escalation (10k due)": (True, True, T0 + timedelta(minutes=31)),
    }


def run_backend(name: str, url: str, n: int, repeat: int, port: int) -> list[list[Any]]:
    st = Storage.open(url)
    st.migrate()
    rows = []
    try:
        for label, (routed, grouped, now) in scenarios().items():
            settings = config(url, port, grouped=grouped)
            times: list[float] = []
            cpu: list[float] = []
            sends: list[float] = []
            counts: dict[str, Any] = {}
            sent = 0
            for _ in range(repeat):
                seed(st, n, routed=routed)
                seconds, cpu_s, counts = measure(st, settings, now)
                times.append(seconds)
                cpu.append(cpu_s)
                if label == "burst, grouping on":
                    send_s, sent = deliver(st, settings, now)
                    sends.append(send_s)
            spread = common.spread(times)
            rows.append([name, label, n, counts.get("escalated", 0), counts.get("enqueued", 0),
                         counts.get("messages", 0), spread["median"], spread["max"],
                         common.median(cpu), common.verdict(spread["median"] <= GOAL_S),
                         f"{sent} in {common.median(sends):.2f} s" if sends else ""])
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
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    cluster = pgcluster.start_cluster() if args.postgresql else None
    try:
        print(common.machine(cluster))
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            results += run_backend("sqlite", url, args.alerts, args.repeat, port)
        if cluster is not None:
            cluster.psql("CREATE DATABASE bench_alerts")
            results += run_backend("postgresql", cluster.url("bench_alerts"), args.alerts,
                                   args.repeat, port)
    finally:
        server.shutdown()
        server.server_close()
        if cluster is not None:
            cluster.cleanup()
    headers = ["storage", "cycle", "open alerts", "escalated", "outbox rows", "messages",
               "median s", "max s", "client CPU s", f"median <= {GOAL_S} s",
               "delivery (grouped)"]
    print(common.load_line())
    print(common.table(headers, results))
    common.write_json(args.json, "alert_processing", {"rows": results, "headers": headers})


if __name__ == "__main__":
    main()

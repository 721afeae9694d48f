"""`planwatch demo`: a throwaway PostgreSQL, a workload, a dropped index, a detected regression."""

from __future__ import annotations

import asyncio
import random
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import psycopg

from planwatch import render
from planwatch.app import App
from planwatch.clock import utcnow
from planwatch.collectors.plans import from_json
from planwatch.config import loader
from planwatch.devtools import pgcluster
from planwatch.devtools.pgcluster import free_port
from planwatch.model.alerts import Alert, AlertKind, AlertStatus
from planwatch.storage import alerts, plans, queries
from planwatch.storage.engine import Storage

SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, region text NOT NULL);
INSERT INTO customers SELECT i, 'customer ' || i, (ARRAY['north','south','east','west'])[1 + i % 4]
  FROM generate_series(1, 5000) i;
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL,
  total numeric(10,2) NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO orders (customer_id, status, total, created_at)
  SELECT 1 + (i::bigint * 7919) % 5000, (ARRAY['new','paid','shipped'])[1 + i % 3],
         (i % 1000) / 10.0,
         now() - (i || ' minutes')::interval
  FROM generate_series(1, 300000) i;
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
ANALYZE;
"""

ORDERS_OF_CUSTOMER = (
    "SELECT o.id, o.total, c.name FROM orders o JOIN customers c ON c.id = o.customer_id "
    "WHERE o.customer_id = %s ORDER BY o.created_at DESC LIMIT 20"
)
Query = tuple[str, Callable[[random.Random], object]]  # SQL with one %s, argument maker
WORKLOAD: tuple[Query, ...] = (
    (ORDERS_OF_CUSTOMER, lambda r: r.randint(1, 5000)),
    ("SELECT name, region FROM customers WHERE id = %s", lambda r: r.randint(1, 5000)),
    ("SELECT count(*) FROM customers WHERE region = %s", lambda r: r.choice(["north", "south"])),
)
TICK_S = 3
LEARN_TIMEOUT_S = 120


def _config(tmp: Path, cluster: pgcluster.PgCluster, port: int) -> Path:
    path = tmp / "planwatch.yaml"
    path.write_text(textwrap.dedent(f"""\
        storage: {{url: "sqlite:///{tmp / 'planwatch.db'}"}}
        targets:
          - name: demo
            engine: postgresql
            dsn: "{cluster.dsn('shop')}"
        scheduling:
          collection: {{interval: {TICK_S}s, startup_delay: 0s}}
          analysis: {{interval: {TICK_S}s, startup_delay: {TICK_S}s}}
          heartbeat: {{interval: 5s}}
          jitter: 0s
        analysis:
          regression: {{window: 15s, min_baseline_samples: 8, min_calls: 10, min_impact: 0.5s,
                        resolve_after_windows: 3}}
        http: {{host: 127.0.0.1, port: {port}}}
        logging: {{level: warning}}
        """))
    return path


class Workload:
    """A few client threads running the shop's queries until stopped."""

    def __init__(self, dsn: str, clients: int = 3, queries: Sequence[Query] = WORKLOAD) -> None:
        self.dsn, self.queries, self.stop, self.calls = dsn, queries, threading.Event(), 0
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Workload:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=5)

    def _client(self) -> None:
        rnd = random.Random()
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                sql, arg = rnd.choice(self.queries)
                conn.execute(sql, (arg(rnd),)).fetchall()
                self.calls += 1
                time.sleep(0.002)


def _regression_alert(storage: Storage) -> Alert | None:
    """The orders query's regression alert once it is open (pending alerts notify nobody)."""
    for a in alerts.list_alerts(storage, status="open", kind=AlertKind.REGRESSION.value):
        if a.status is AlertStatus.OPEN and a.query_text and \
                "orders o join customers" in a.query_text.lower():
            return a
    return None


def _print_alert(storage: Storage, alert: Alert) -> None:
    from planwatch.model.samples import QueryRef

    ref = QueryRef(alert.target, alert.database or "", alert.query_id or "")
    nodes = []
    for key in ("old_plan_hash", "new_plan_hash"):
        plan_hash = alert.details.get(key)
        captured = plans.get(storage, ref, plan_hash) if plan_hash else None
        nodes.append(from_json(captured.plan_json) if captured else None)
    print("\n" + render.alert_report(alert, nodes[0], nodes[1]) + "\n")


async def _learned(app: App) -> None:
    """Wait until the orders query's baseline is usable, as its learning state says (the
    same state `planwatch queries` shows): detection starts then, nothing is forced."""
    shown = -1
    while True:
        learned = await asyncio.to_thread(_learning_state, app.storage)
        needed = app.settings.analysis.regression.min_baseline_samples
        if learned is not None and learned != shown:
            shown = learned
            print(f"[{_t()}] orders query baseline: {render.baseline_cell(learned, needed)}")
        if learned is not None and learned >= needed:
            return
        await asyncio.sleep(1)


def _learning_state(storage: Storage) -> int | None:
    now = utcnow()
    for q in queries.top(storage, target="demo", since=now - timedelta(hours=1), until=now):
        if q.text and "orders o join customers" in q.text.lower():
            return q.baseline_samples
    return None


async def _scenario(app: App, cluster: pgcluster.PgCluster, serve_seconds: int) -> int:
    runner = asyncio.create_task(app.run())
    try:
        print(f"[{_t()}] learning baselines from the workload (a collection every {TICK_S}s) ...")
        await asyncio.wait_for(_learned(app), timeout=LEARN_TIMEOUT_S)
        print(f"[{_t()}] baseline ready; dropping index orders_customer_id_idx")
        await asyncio.to_thread(cluster.psql, "DROP INDEX orders_customer_id_idx", "shop")
        deadline = time.monotonic() + 90
        alert = None
        while alert is None and time.monotonic() < deadline:
            await asyncio.sleep(1)
            alert = await asyncio.to_thread(_regression_alert, app.storage)
        if alert is None:
            print("no regression detected within 90 s: something is wrong (see the job runs)")
            return 1
        print(f"[{_t()}] regression detected:")
        _print_alert(app.storage, alert)
        http = app.settings.http
        base = f"http://{http.host}:{http.port}"
        print(f"alert page: {base}/alerts/{alert.id}   query page: {base}/queries")
        if serve_seconds:
            print(f"serving the dashboard at {base}/ (and /health, /metrics, /api/v1) "
                  f"for {serve_seconds}s (Ctrl-C to stop)")
            await asyncio.sleep(serve_seconds)
        return 0
    finally:
        app.stop_event.set()
        await runner


_T0 = time.monotonic()


def _t() -> str:
    return f"{time.monotonic() - _T0:5.1f}s"


def main(*, serve_seconds: int = 0, port: int = 0) -> int:
    print(f"[{_t()}] starting a throwaway PostgreSQL with pg_stat_statements ...")
    settings = {"max_parallel_workers_per_gather": "0", "pg_stat_statements.track": "top"}
    with tempfile.TemporaryDirectory(prefix="planwatch-demo-") as tmp, \
            pgcluster.running_cluster(settings) as cluster:
        cluster.psql("CREATE DATABASE shop")
        cluster.psql(SCHEMA, "shop")
        cluster.psql("CREATE EXTENSION pg_stat_statements", "shop")
        if cluster.psql("SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'").strip():
            cluster.psql("CREATE EXTENSION hypopg", "shop")  # index advice, when installed
        cluster.psql("SELECT pg_stat_statements_reset()", "shop")  # forget the setup statements
        config = loader.load(_config(Path(tmp), cluster, port or free_port()))
        print(f"[{_t()}] shop database ready (300,000 orders); starting planwatch "
              f"(SQLite storage in {tmp}); dashboard: "
              f"http://{config.http.host}:{config.http.port}/ while the demo runs")
        with Workload(cluster.dsn("shop")):
            async def go() -> int:
                async with App(config) as app:
                    return await _scenario(app, cluster, serve_seconds)

            code = asyncio.run(go())
    print(f"[{_t()}] cleaned up (PostgreSQL stopped, temporary files removed)")
    return code


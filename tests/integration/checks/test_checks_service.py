"""The check runner inside a worker: results stored, the checks job, /metrics, the CLI."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from planwatch import cli
from planwatch.app import App
from planwatch.config import loader
from planwatch.storage import check_results, job_runs
from planwatch.web import metrics
from polling import async_wait_until
from prometheus_tools import promtool_check_metrics

pytestmark = pytest.mark.integration


@pytest.fixture
def config(tmp_path: Path) -> Path:
    shop = tmp_path / "shop.db"
    conn = sqlite3.connect(shop)
    with conn:
        conn.execute("CREATE TABLE t (region TEXT, n INT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [("eu", 1), ("us", 7)])
    conn.close()
    path = tmp_path / "planwatch.yaml"
    path.write_text(f"""
storage: {{url: "sqlite:///{tmp_path / 'pw.db'}"}}
http: {{enabled: false}}
targets:
  - {{name: shop, dsn: "sqlite:///{shop}", tags: [kpi]}}
scheduling:
  checks: {{interval: 1s}}
  max_parallel_checks: 2
  jitter: 0s
checks:
  - {{name: rows, target: shop, sql: "SELECT count(*) FROM t", operator: eq, expected: 2,
      interval: 1s}}
  - name: per-region
    tags: [kpi]
    sql: SELECT region, n FROM t
    result: dataset
    value_column: n
    label_columns: [region]
    warning: "> 5"
    interval: 1s
    metrics:
      - {{name: shop_rows, description: Rows per region}}
      - {{name: shop_rows_seen, type: histogram, buckets: [2, 5], labels: []}}
  - {{name: never, target: shop, sql: "SELECT 1", warning: "> 5", enabled: false}}
""")
    return path


async def test_worker_runs_checks_and_reports(config: Path) -> None:
    settings = loader.load(str(config))
    async with App(settings, config_path=str(config)) as app:
        runner = asyncio.create_task(app.run())
        await _until_reported(app)
        exposition = metrics.render(metrics.registry_for(app.web)).decode()
        app.stop_event.set()
        await runner
    stored = check_results.recent(app.storage, limit=100)
    assert {r.check for r in stored} == {"rows", "per-region"}
    assert {(r.check, r.labels, r.status.value) for r in stored} >= {
        ("rows", (), "ok"), ("per-region", (("region", "eu"),), "ok"),
        ("per-region", (("region", "us"),), "warning")}
    assert 'planwatch_check_value{check="per-region",region="us",target="shop"} 7.0' in \
        exposition
    assert 'planwatch_check_status{check="per-region",region="us",target="shop"} 1.0' in \
        exposition
    assert 'planwatch_check_runs_total{check="rows",target="shop"}' in exposition
    # the check's rows as named metrics (query-exporter style), and histograms of durations
    assert 'shop_rows{region="us",target="shop"} 7.0' in exposition
    assert 'shop_rows_seen_bucket{le="2.0",target="shop"}' in exposition
    assert 'planwatch_check_duration_seconds_bucket{check="rows",le="+Inf",target="shop"}' in \
        exposition
    assert "planwatch_check_schedule_lag_seconds_count " in exposition
    promtool_check_metrics(exposition)
    runs = job_runs.recent(app.storage, job_type="checks")
    assert runs and runs[-1].data["tasks"] == 2


def test_cli_checks_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_run_briefly(config))
    assert cli.main(["-c", str(config), "checks", "--json"]) == 0
    out = capsys.readouterr().out
    rows = json.loads(out[out.index("[\n"):])  # log lines may precede the document
    by = {(r["check"], r["target"]): r for r in rows}
    assert set(by) == {("rows", "shop"), ("per-region", "shop")}
    assert by[("rows", "shop")]["last_status"] == "ok"
    assert by[("rows", "shop")]["success_rate_7d"] == 1.0
    assert by[("per-region", "shop")]["last_status"] == "warning"
    assert set(by[("rows", "shop")]) == {
        "check", "target", "last_status", "last_at", "last_value", "last_message", "runs_7d",
        "ok_7d", "success_rate_7d"}
    assert cli.main(["-c", str(config), "checks"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["CHECK", "TARGET", "STATUS", "LAST", "RUN",
                                             "VALUE", "OK", "7D", "RUNS", "7D", "MESSAGE"]


async def _run_briefly(config: Path) -> None:
    settings = loader.load(str(config))
    async with App(settings, config_path=str(config)) as app:
        runner = asyncio.create_task(app.run())
        await _until_reported(app)
        app.stop_event.set()
        await runner


async def _until_reported(app: App) -> None:
    """Until both checks have stored a result of each of their series and the checks job ran
    (the checks run every second)."""

    def reported() -> bool:
        stored = {(r.check, r.labels) for r in check_results.recent(app.storage, limit=100)}
        return stored >= {("rows", ()), ("per-region", (("region", "eu"),)),
                          ("per-region", (("region", "us"),))} and bool(
            job_runs.recent(app.storage, job_type="checks"))

    await async_wait_until(reported, 30, 0.2, what="stored results of both checks")

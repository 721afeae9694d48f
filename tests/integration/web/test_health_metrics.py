"""/health/live, /health/ready, /health and /metrics of a real running worker (its own HTTP
server on a loopback port, real PostgreSQL target, real storage)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from planwatch.app import App
from planwatch.config import loader
from planwatch.devtools.pgcluster import PgCluster, free_port
from polling import async_wait_until
from prometheus_tools import promtool_check_metrics

pytestmark = pytest.mark.integration

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "planwatch-dashboard.json"


def dashboard_metric_names() -> set[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = " ".join(t["expr"] for p in panels for t in p.get("targets", []))
    return set(re.findall(r"\bplanwatch_[a-z_]+", exprs))


def _config(storage_url: str, port: int, targets: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "storage": {"url": storage_url},
        "targets": targets,
        "scheduling": {
            "collection": {"interval": "1s", "startup_delay": "0s"},
            "analysis": {"interval": "1s", "startup_delay": "0s"},
            "heartbeat": {"interval": "1s"},
            "backoff": {"initial": "1s", "max": "2s"},
            "max_consecutive_failures": 2,
            "jitter": "0s",
        },
        "http": {"host": "127.0.0.1", "port": port},
    }


@contextlib.asynccontextmanager
async def serving(config: dict[str, Any]) -> AsyncIterator[tuple[App, httpx.AsyncClient]]:
    """The worker (scheduler + jobs + uvicorn) running on this event loop."""
    settings = loader.load_mapping(config, environ={})
    async with App(settings) as app:
        task = asyncio.create_task(app.run())
        try:
            await asyncio.wait_for(app.ready.wait(), 30)
            base = f"http://127.0.0.1:{config['http']['port']}"
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                yield app, client
        finally:
            app.stop_event.set()
            await task


async def eventually(condition: Callable[[], Any], what: str, within: float = 60) -> Any:
    return await async_wait_until(condition, within, what=what)


def _metrics(text: str) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def _value(samples: dict[str, list[Sample]], name: str, **labels: str) -> float:
    (found,) = [s for s in samples[name] if all(s.labels.get(k) == v for k, v in labels.items())]
    return float(found.value)


async def test_health_and_metrics_of_a_running_worker(
    tmp_path: Path, pg_cluster: PgCluster, pg_database: str
) -> None:
    pg_cluster.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", pg_database)
    targets = [
        {"name": "main", "engine": "postgresql", "dsn": pg_cluster.dsn(pg_database)},
        {"name": "down", "engine": "postgresql", "connect_timeout": "1s",
         "dsn": f"host=127.0.0.1 port={free_port()} dbname=x user=planwatch"},
    ]
    config = _config(f"sqlite:///{tmp_path / 'pw.db'}", free_port(), targets)
    async with serving(config) as (app, client):
        await eventually(lambda: app.state.counters[("collections", "main|ok")] >= 2,
                         "two collections of main")
        await eventually(lambda: any(s.unhealthy for s in app.scheduler.states()),
                         "collection:down over its failure budget")
        await eventually(lambda: app.state.counters[("analyses", "")] >= 1, "an analysis")

        live = await client.get("/health/live")
        assert live.status_code == 200
        assert live.json()["status"] == "Healthy"
        assert set(live.json()["checks"]) == {"scheduler"}

        ready = await client.get("/health/ready")
        assert ready.status_code == 200  # Degraded is still ready (targets are not planwatch)
        body = ready.json()
        assert body["status"] == "Degraded"
        checks = body["checks"]
        assert checks["storage"] == {"status": "Healthy", "message": "sqlite"}
        assert checks["target:main"]["status"] == "Healthy"
        assert checks["target:down"]["status"] == "Degraded"
        assert "cannot connect" in checks["target:down"]["message"]
        assert checks["job:collection:down"]["status"] == "Degraded"
        assert "job:collection:main" not in checks
        assert all(c["status"] in ("Healthy", "Degraded", "Unhealthy") for c in checks.values())

        full = await client.get("/health")
        assert full.status_code == 200 and full.json()["status"] == "Degraded"
        assert set(full.json()["checks"]) == set(checks) | {"scheduler"}

        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"] == CONTENT_TYPE_LATEST  # Prometheus text format
        m = _metrics(response.text)

    assert _value(m, "planwatch_collections_total", target="main", outcome="ok") >= 2
    assert _value(m, "planwatch_collections_total", target="down", outcome="error") >= 2
    assert _value(m, "planwatch_target_up", target="main") == 1
    assert _value(m, "planwatch_target_up", target="down") == 0
    assert _value(m, "planwatch_collection_duration_seconds", target="main") > 0
    assert {s.labels["target"] for s in m["planwatch_collection_duration_seconds"]} == {"main"}
    assert _value(m, "planwatch_analyses_total") >= 1
    assert _value(m, "planwatch_job_duration_seconds_count", kind="analysis") >= 1
    assert _value(m, "planwatch_job_duration_seconds_sum", kind="analysis") > 0
    collections = _value(m, "planwatch_job_duration_seconds_count", kind="collection")
    assert collections >= 4  # main's successes and down's failures
    assert _value(m, "planwatch_job_duration_seconds_bucket", kind="collection",
                  le="+Inf") == collections
    assert _value(m, "planwatch_job_duration_seconds_bucket", kind="collection",
                  le="0.005") <= collections
    assert _value(m, "planwatch_job_failures_total", job="collection:down") >= 2
    assert _value(m, "planwatch_job_failures_total", job="collection:main") == 0
    assert _value(m, "planwatch_job_unhealthy", job="collection:down") == 1
    assert _value(m, "planwatch_job_consecutive_failures", job="collection:down") >= 2
    assert _value(m, "planwatch_job_runs_total", job="heartbeat", kind="heartbeat") >= 1
    assert _value(m, "planwatch_schedule_lag_seconds_count", kind="heartbeat") >= 1
    assert _value(m, "planwatch_schedule_lag_seconds_bucket", kind="heartbeat", le="+Inf") >= 1
    assert _value(m, "process_resident_memory_bytes") > 0  # the process collector
    assert _value(m, "process_start_time_seconds") > 0
    assert _value(m, "planwatch_storage_up") == 1
    assert _value(m, "planwatch_build_info", worker=app.instance_id) == 1
    families = list(text_string_to_metric_families(response.text))
    exposed = {f.name for f in families} | {s.name for f in families for s in f.samples}
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    exposed |= {f.name + end for f in families for end in suffixes.get(f.type, ())}  # no samples
    assert "planwatch_alerts_open" in exposed
    used = dashboard_metric_names()
    assert used <= exposed, f"the Grafana dashboard uses metrics /metrics lacks: {used - exposed}"
    promtool_check_metrics(response.text)



async def test_storage_down_is_unhealthy_503_but_still_live(
    tmp_path: Path, pg_cluster: PgCluster
) -> None:
    db = f"store_{tmp_path.name[-8:].lower().replace('-', '_')}_{free_port()}"
    pg_cluster.psql(f"CREATE DATABASE {db}")
    secret = "St0re-Secret-9f2"
    url = pg_cluster.url(db, password=secret)  # trust auth ignores it; it must never show
    try:
        async with serving(_config(url, free_port(), [])) as (_app, client):
            ready = await client.get("/health/ready")
            assert (ready.status_code, ready.json()["status"]) == (200, "Healthy")

            pg_cluster.psql(f"DROP DATABASE {db} WITH (FORCE)")  # storage is gone

            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["status"] == "Unhealthy"
            storage = ready.json()["checks"]["storage"]
            assert storage["status"] == "Unhealthy"
            assert storage["message"].startswith("unreachable: storage postgresql+psycopg://")
            assert f'database "{db}" does not exist' in storage["message"]
            full = await client.get("/health")
            assert full.status_code == 503
            live = await client.get("/health/live")
            assert (live.status_code, live.json()["status"]) == (200, "Healthy")
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert _value(_metrics(metrics.text), "planwatch_storage_up") == 0
            for r in (ready, full, live, metrics):
                assert secret not in r.text
    finally:
        pg_cluster.psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")

"""A SQL Server plan regression through the worker's real jobs, from replayed Query Store data.

SQL Server cannot run here, so the one class that talks to it (`PymssqlSource`) is replaced by
`QueryStoreReplay`, which answers each named statement of `sql/sqlserver.sql` with rows of the
documented column types and units (times in µs, I/O in 8 KB pages, hashes as binary(8) bytes,
interval bounds as aware datetimes), honouring the statement's own `since`/`until` bounds. The
plans are the real showplan files `hqp_clustered_index_seek` / `hqp_clustered_index_scan` in
`tests/fixtures/plans/mssql/`. Everything else is real: the collector, the collection, baseline and
analysis jobs, SQLite storage and the alert lifecycle.

Timeline (one-minute Query Store intervals, all closed and in the past): query 7 runs on plan 70
(index seek, ~100 µs) for 40 intervals, then on plan 71 (clustered index scan, ~20 ms); from
interval 46 on, SQL Server's automatic tuning recommends forcing plan 70 back. The replay
delivers the last 52 minutes of intervals within seconds, so the analysis window is an hour:
learning and detection only judge intervals inside the window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from planwatch.app import App
from planwatch.collectors.sqlserver import SqlServerCollector
from planwatch.config import loader
from planwatch.model.alerts import Alert, AlertKind
from planwatch.storage import alerts
from shared_fixtures import FIXTURES

pytestmark = pytest.mark.integration

FAST, SLOW, LAST = 40, 12, 52  # intervals on the seek plan, on the scan plan, in all
RECOMMENDED_FROM = 46
QUERY_HASH = bytes.fromhex("179B1350F4CDE9FA")
PLANS = {  # plan_id -> (showplan file, query_plan_hash as recorded in that file)
    70: ("hqp_clustered_index_seek.sqlplan", bytes.fromhex("134F3E5A51729C2E")),
    71: ("hqp_clustered_index_scan.sqlplan", bytes.fromhex("6867F0BB85CF394F")),
}
TEXT = "(@1 tinyint)SELECT * FROM [People] WHERE [id]=@1"
RECOMMENDATION_DETAILS = (
    '{"planForceDetails": {"queryId": 7, "regressedPlanId": 71, '
    '"regressedPlanExecutionCount": 480, "regressedPlanAbortedCount": 0, '
    '"regressedPlanCpuTimeAverage": 18000.0, "recommendedPlanId": 70, '
    '"recommendedPlanExecutionCount": 2400, "recommendedPlanAbortedCount": 0, '
    '"recommendedPlanCpuTimeAverage": 90.0}, "estimatedGain": 99.0, "errorProne": "No", '
    '"implementationDetails": {"method": "TSql", '
    '"script": "exec sp_query_store_force_plan @query_id = 7, @plan_id = 70"}}'
)


class QueryStoreReplay:
    """Query Store of database `shop` with one query, one interval closing per poll."""

    def __init__(self, base: datetime) -> None:
        self.base = base  # start of interval 1
        self.polls = 0
        self.sent: list[str] = []

    def end_of(self, interval: int) -> datetime:
        return self.base + timedelta(minutes=interval)

    def fetch(
        self, name: str, params: Mapping[str, Any] | None = None, *,
        database: str | None = None, parts: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        self.sent.append(name)
        if name == "clock":
            self.polls += 1
            return [{"server_now": self.end_of(self.polls) + timedelta(seconds=5)}]
        assert database in (None, "shop"), database
        answer = getattr(self, f"_{name}")
        rows: list[dict[str, Any]] = answer(params or {}, parts or {})
        return rows

    def close(self) -> None:
        pass

    def _server_facts(self, *_: object) -> list[dict[str, Any]]:
        return [{"major_version": 16, "product_version": "16.0.4175.1",
                 "login": "planwatch_mon", "current_database": "shop"}]

    def _query_store_options(self, *_: object) -> list[dict[str, Any]]:
        return [{"actual_state_desc": "READ_WRITE", "desired_state_desc": "READ_WRITE",
                 "readonly_reason": 0, "interval_length_minutes": 1,
                 "current_storage_size_mb": 120, "max_storage_size_mb": 1000}]

    def _runtime_stats(self, params: Mapping[str, Any], _: object) -> list[dict[str, Any]]:
        since = datetime.fromisoformat(params["since"])
        until = datetime.fromisoformat(params["until"])
        return [self._stats(k) for k in range(1, LAST + 1)
                if since < self.end_of(k) <= until]

    def _stats(self, k: int) -> dict[str, Any]:
        fast = k <= FAST
        jitter = (k * 37 % 11) / 10  # 0.0 .. 1.0, deterministic
        return {
            "plan_id": 70 if fast else 71, "query_id": 7, "runtime_stats_interval_id": 1000 + k,
            "execution_type": 0, "start_time": self.end_of(k - 1), "end_time": self.end_of(k),
            "count_executions": 60 if fast else 40,
            "avg_duration": (100.0 + 20 * jitter) if fast else (20_000.0 + 2_000 * jitter),
            "avg_cpu_time": 90.0 if fast else 18_000.0,
            "avg_logical_io_reads": 3.0 if fast else 2_900.0, "avg_logical_io_writes": 0.0,
            "avg_physical_io_reads": 0.0, "avg_rowcount": 1.0, "avg_clr_time": 0.0,
            "avg_dop": 1.0, "max_query_max_used_memory": 0.0, "avg_tempdb_space_used": 0.0,
            "avg_log_bytes_used": 0.0,
        }

    def _queries(self, _: object, parts: Mapping[str, str]) -> list[dict[str, Any]]:
        assert parts["query_ids"] == "7"
        return [{"query_id": 7, "query_hash": QUERY_HASH, "query_sql_text": TEXT}]

    def _plans(self, _: object, parts: Mapping[str, str]) -> list[dict[str, Any]]:
        wanted = {int(p) for p in parts["plan_ids"].split(",")}
        return [
            {"plan_id": pid, "query_id": 7, "query_plan_hash": engine_hash,
             "query_plan": (FIXTURES / "mssql" / file).read_text(encoding="utf-8")}
            for pid, (file, engine_hash) in PLANS.items() if pid in wanted
        ]

    def _forced_plans(self, *_: object) -> list[dict[str, Any]]:
        return []

    def _tuning_recommendations(self, *_: object) -> list[dict[str, Any]]:
        if self.polls < RECOMMENDED_FROM:
            return []
        return [{
            "name": "PR_1", "type": "FORCE_LAST_GOOD_PLAN",
            "reason": "Average query CPU time changed from 0.09ms to 18ms",
            "valid_since": self.end_of(RECOMMENDED_FROM - 1), "last_refresh": self.end_of(
                self.polls - 1),
            "state": '{"currentValue": "Active", "reason": "AdvisorRecommendation"}',
            "score": 91, "details": RECOMMENDATION_DETAILS,
        }]


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[tuple[App, QueryStoreReplay]]:
    settings = loader.load_mapping({
        "storage": {"url": f"sqlite:///{tmp_path / 'planwatch.db'}"},
        "targets": [{"name": "mssql", "engine": "sqlserver",
                     "dsn": "mssql://planwatch_mon:s3cret@sql1:1433/shop"}],
        "analysis": {"regression": {
            "window": "60m", "min_baseline_samples": 8, "min_calls": 10,
            "min_impact": "0.5s", "resolve_after_windows": 3,
        }},
        "http": {"enabled": False},
    }, environ={})
    # All intervals closed and in the past; the last one ends a minute before now.
    replay = QueryStoreReplay(datetime.now(UTC) - timedelta(minutes=LAST + 1))
    async with App(settings, one_shot=True) as app:
        app.deps.collectors["mssql"] = SqlServerCollector(settings.target("mssql"), replay)
        yield app, replay


async def _poll(app: App, analyze: bool) -> None:
    outcome = await app.scheduler.run_once("collection:mssql")
    assert outcome.result_status.value != "Error", outcome.message
    if analyze:
        await app.scheduler.run_once("analysis")


def _regressions(app: App) -> list[Alert]:
    return alerts.list_alerts(app.storage, status="all", kind=AlertKind.REGRESSION.value)


async def test_plan_regression_carries_query_store_ids_and_the_tuning_recommendation(
    app: tuple[App, QueryStoreReplay],
) -> None:
    worker, replay = app
    for _ in range(FAST):  # learning from the replayed intervals, as a fresh install does
        await _poll(worker, analyze=True)
    assert _regressions(worker) == []  # the steady seek plan raised nothing

    opened_at = None
    for poll in range(FAST + 1, LAST + 1):
        await _poll(worker, analyze=True)
        if opened_at is None and _regressions(worker):
            opened_at = poll
    assert opened_at is not None, "the plan regression was not detected"
    assert replay.polls == LAST

    (alert,) = _regressions(worker)
    assert (alert.query_id, alert.database) == ("7", "shop")
    assert alert.plan_changed is True and alert.ratio is not None and alert.ratio >= 100
    assert alert.query_text == TEXT
    details = alert.details
    assert details["query_hash"] == "0x179B1350F4CDE9FA"
    assert details["old_plan_hash"] != details["new_plan_hash"]
    assert details["plan_diff"] == [
        "dbo.People: Clustered Index Seek (PK_People_id) -> Clustered Index Scan (PK_People_id)"]
    recommendation = details["tuning_recommendation"]
    assert (recommendation["regressed_plan_id"], recommendation["recommended_plan_id"]) == (71, 70)
    assert recommendation["state"] == "Active" and recommendation["score"] == 91
    assert recommendation["script"] == "exec sp_query_store_force_plan @query_id = 7, @plan_id = 70"
    assert "forced_plan" not in details  # nothing is forced in this timeline

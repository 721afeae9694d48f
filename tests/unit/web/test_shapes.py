"""The JSON shapes, defined once: every builder returns exactly its shape, and the OpenAPI
document generated from the shapes is a valid OpenAPI 3.0 document that names them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openapi_spec_validator import validate
from pydantic import TypeAdapter, ValidationError

from planwatch import views
from planwatch.model import alerts, checks, jobs
from planwatch.model.findings import Severity
from planwatch.model.samples import QueryRef
from planwatch.storage import readmodels as rm
from planwatch.storage.queries import QuerySummary
from planwatch.storage.readmodels_checks import Point, ResultRow
from planwatch.web import openapi, shapes

NOW = datetime(2026, 11, 23, 10, 50, 29, 147860, tzinfo=UTC)
ALERT = alerts.Alert(
    7, "regression|db|app|q1", alerts.AlertKind.REGRESSION, alerts.AlertStatus.OPEN,
    Severity.CRITICAL, "db", "app", "q1", "q1 is 9.4x slower", query_id="q1",
    query_text="SELECT 1", plan_changed=True, baseline_ms=0.4, current_ms=3.8, ratio=9.4,
    opened_at=NOW, updated_at=NOW, details={"cause": "plan_change"},
)
SUMMARY = QuerySummary(QueryRef("db", "app", "q1", "fp1"), "SELECT 1", 12, 30.5, 2.5417, 12,
                       2, "h2", NOW - timedelta(days=1), NOW, baseline_samples=5)
PLAN_A = rm.PlanInfo("h1", None, NOW - timedelta(days=1), NOW, '{"op": "Seq Scan"}', "raw")
PLAN_B = rm.PlanInfo("h2", "e2", NOW, NOW, "not a plan", "raw")
WORKER = jobs.Worker("w1", "monitor", "host", 41877, "0.1.0", "production",
                     jobs.WorkerStatus.RUNNING, NOW, last_heartbeat=NOW - timedelta(seconds=20))
SILENCE = alerts.Silence(3, {"target": "db"}, NOW, NOW + timedelta(hours=1), "deploy", "cli:me")
NOTIFICATION = alerts.Notification(
    5, "hook", "alerts", "k1", "1 alert", "text", {}, status=alerts.NotificationStatus.FAILED,
    items=1, attempts=4, last_error="HTTP 500", created_at=NOW, expires_at=NOW)
JOB_RUN = jobs.JobRun(9, "collection", "collection:db", "w1", jobs.JobStatus.COMPLETED, NOW,
                      started_at=NOW, completed_at=NOW, duration_ms=12.5,
                      result_status=jobs.ResultStatus.HEALTHY, target="db", data={"n": 1})
CHECK = checks.CheckSummary("rows", "db", checks.CheckStatus.WARNING, NOW, "7 rows", 7.0, 10, 9)

BUILT: list[tuple[type[Any], Any]] = [
    (views.Alert, views.alert(ALERT)),
    (shapes.Alert, shapes.alert(ALERT, 42, SILENCE)),
    (shapes.Alert, shapes.alert(ALERT)),
    (shapes.AlertDetail, {**shapes.alert(ALERT), "events": [shapes.event(
        alerts.AlertEvent(7, NOW, "opened", "analysis", data={"ratio": 9.4}))]}),
    (views.Query, views.query(SUMMARY, 12)),
    (shapes.Query, shapes.ranked_query(rm.RankedQuery(1, SUMMARY), 12)),
    (shapes.QueryInfo, shapes.query_info(rm.QueryInfo(1, SUMMARY.ref, None, NOW, NOW), 12)),
    (shapes.Series, shapes.series(rm.Series([1.0, 2.0], [3, 4], [1.5, 2.5], [0.5, 0.625],
                                            [3, 4], [1, 2], [0, 1], [0, 0], ["h1", "h2"]))),
    (shapes.Plan, shapes.plan(PLAN_A)),
    (shapes.PlanDiff, shapes.plan_diff(PLAN_A, PLAN_B)),
    (shapes.Target, shapes.target(rm.TargetInfo("db", "postgresql", "production", ("kpi",),
                                                True, None, None, None, 3, 1))),
    (shapes.CheckSummary, shapes.check_summary(CHECK, "rows", "db", [Point(NOW, "ok", 1.0)])),
    (shapes.CheckSummary, shapes.check_summary(None, "never", "db", [])),
    (shapes.CheckResult, shapes.check_result(ResultRow(
        1, "rows", "db", {"region": "eu"}, "warning", 7.0, None, 3.5, "7 rows", NOW))),
    (shapes.Worker, shapes.worker(WORKER, rm.WorkerJobs(1, 2), NOW, timedelta(seconds=15))),
    (shapes.Worker, shapes.worker(WORKER, None, NOW, timedelta(seconds=15))),
    (views.JobRun, views.job_run(JOB_RUN)),
    (views.Notification, views.notification(NOTIFICATION, [7])),
    (views.Silence, views.silence(SILENCE, NOW)),
]


def keys(shape: type[Any]) -> set[str]:
    return set(shape.__required_keys__) | set(shape.__optional_keys__)


@pytest.mark.parametrize(("shape", "value"), BUILT, ids=[s.__name__ for s, _ in BUILT])
def test_each_builder_returns_exactly_its_shape(shape: type[Any], value: Any) -> None:
    assert set(value) == keys(shape)
    TypeAdapter(shape).validate_python(value, strict=True)


def test_a_shape_refuses_what_it_does_not_describe() -> None:
    wrong = {**views.alert(ALERT), "database": 3}
    with pytest.raises(ValidationError, match="database"):
        TypeAdapter(views.Alert).validate_python(wrong, strict=True)


def test_the_document_is_valid_openapi_3_0() -> None:
    validate(openapi.document())


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        own = {node["$ref"]} if "$ref" in node else set()
        return own.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_every_response_shape_is_a_named_schema_and_every_reference_resolves() -> None:
    doc = openapi.document()
    names = set(doc["components"]["schemas"])
    assert {s.__name__ for s in shapes.RESPONSES} | {"ActionBody"} <= names
    assert {r.removeprefix(openapi.REF) for r in _refs(doc)} <= names


def test_schemas_say_nullable_and_list_enums_from_the_model() -> None:
    alert = openapi.document()["components"]["schemas"]["Alert"]
    props = alert["properties"]
    assert props["database"] == {"type": "string", "nullable": True}
    assert props["opened_at"] == {"type": "string", "format": "date-time", "nullable": True}
    assert props["kind"]["enum"] == [k.value for k in alerts.AlertKind]
    assert props["details"]["type"] == "object"
    assert set(alert["required"]) == keys(shapes.Alert)
    body = openapi.document()["components"]["schemas"]["ActionBody"]
    assert "required" not in body
    assert body["properties"]["minutes"] == {"type": "integer", "minimum": 1, "maximum": 43200}

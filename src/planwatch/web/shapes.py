"""The API's JSON shapes (and the data the pages render), each defined once with its builder.

Alerts, queries, checks and workers are the CLI's `views` shapes with a few added keys (`id`
of a query, the silence covering an alert, links); web/openapi.py generates the document's
schemas from these classes, so the document cannot drift from what the handlers return.
Nothing here is ever a secret: DSNs are not stored, so they cannot leak.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import Field, StringConstraints
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from planwatch import views
from planwatch.model import alerts, checks, jobs
from planwatch.storage import readmodels as rm
from planwatch.storage.readmodels_checks import Point, ResultRow
from planwatch.views import Timestamp, one_of, ts
from planwatch.web.alert_actions import MAX_COMMENT, MAX_SILENCE_MINUTES
from planwatch.web.params import NO_NUL
from planwatch.web.plantext import DiffRow, side_by_side

WORKER_HEALTH = ("healthy", "late", "stale", "stopped", "dead")  # what rm.heartbeat_health says


class Error(TypedDict):
    error: str


class ActionBody(TypedDict, total=False):
    """The optional body of an alert action (checked by web/api_actions.py)."""

    comment: Annotated[str, StringConstraints(max_length=MAX_COMMENT, pattern=NO_NUL)]
    minutes: Annotated[int, Field(ge=1, le=MAX_SILENCE_MINUTES)]


class Alert(views.Alert):
    query_pk: int | None
    silenced_until: Timestamp | None
    silenced_by: str | None


def alert(a: alerts.Alert, query_pk: int | None = None,
          silence: alerts.Silence | None = None) -> Alert:
    """The CLI's alert JSON plus the link to the query page and the silence covering it."""
    return {
        **views.alert(a), "query_pk": query_pk,
        "silenced_until": ts(silence.ends_at) if silence else None,
        "silenced_by": silence_label(silence) if silence else None,
    }


def silence_label(s: alerts.Silence) -> str:
    return f"silence {s.id}" if s.id is not None else "config silence"


class Event(TypedDict):
    at: Timestamp | None
    event: str
    actor: str
    message: str
    data: dict[str, Any]


def event(e: alerts.AlertEvent) -> Event:
    return {"at": ts(e.at), "event": e.event, "actor": e.actor, "message": e.message,
            "data": e.data}


class AlertDetail(Alert):
    events: list[Event]


class Query(views.Query):
    id: int


def ranked_query(r: rm.RankedQuery, needed: int) -> Query:
    return {"id": r.pk, **views.query(r.summary, needed)}


class QueryInfo(TypedDict):
    id: int
    target: str
    database: str
    query_id: str
    fingerprint: str
    query_text: str | None
    first_seen: Timestamp | None
    last_seen: Timestamp | None
    baseline: views.Baseline


def query_info(info: rm.QueryInfo, needed: int) -> QueryInfo:
    return {
        "id": info.pk, "target": info.ref.target, "database": info.ref.database,
        "query_id": info.ref.query_id, "fingerprint": info.ref.fingerprint,
        "query_text": info.text, "first_seen": ts(info.first_seen),
        "last_seen": ts(info.last_seen),
        "baseline": views.baseline(info.baseline_samples, needed),
    }


PlanChange = TypedDict("PlanChange", {"t": float, "from": str, "to": str})  # `from`: a keyword


class Series(TypedDict):
    t: list[float]
    mean_ms: list[float]
    calls: list[int]
    total_ms: list[float]
    rows: list[int]
    blks_hit: list[int]
    blks_read: list[int]
    blks_temp: list[int]
    plan_hash: list[str | None]
    plan_changes: list[PlanChange]


def series(x: rm.Series) -> Series:
    """Columns per interval; `plan_changes` marks where the dominant plan differs."""
    return {
        "t": x.t, "mean_ms": [round(v, 3) for v in x.mean_ms], "calls": x.calls,
        "total_ms": [round(v, 3) for v in x.total_ms], "rows": x.rows,
        "blks_hit": x.blks_hit, "blks_read": x.blks_read, "blks_temp": x.blks_temp,
        "plan_hash": x.plan_hash, "plan_changes": plan_changes(x.t, x.plan_hash),
    }


def plan_changes(t: list[float], hashes: list[str | None]) -> list[PlanChange]:
    """Intervals whose plan differs from the previous known plan (unknown plans are skipped)."""
    out: list[PlanChange] = []
    previous: str | None = None
    for at, h in zip(t, hashes, strict=True):
        if h is None:
            continue
        if previous is not None and h != previous:
            out.append({"t": at, "from": previous, "to": h})
        previous = h
    return out


class PlanMeta(TypedDict):
    plan_hash: str
    engine_plan_hash: str | None
    first_seen: Timestamp | None
    last_seen: Timestamp | None


class Plan(PlanMeta):
    plan_json: str
    raw: str


def plan_meta(x: rm.PlanInfo) -> PlanMeta:
    return {
        "plan_hash": x.plan_hash, "engine_plan_hash": x.engine_plan_hash,
        "first_seen": ts(x.first_seen), "last_seen": ts(x.last_seen),
    }


def plan(x: rm.PlanInfo) -> Plan:
    return {**plan_meta(x), "plan_json": x.plan_json, "raw": x.raw}


PlanDiff = TypedDict("PlanDiff", {
    "from": PlanMeta, "to": PlanMeta, "changes": list[str], "rows": list[DiffRow],
    "readable": bool,
})


def plan_diff(a: rm.PlanInfo, b: rm.PlanInfo) -> PlanDiff:
    return {"from": plan_meta(a), "to": plan_meta(b), **side_by_side(a.plan_json, b.plan_json)}


class Target(TypedDict):
    name: str
    engine: str
    environment: str
    tags: list[str]
    enabled: bool
    up: bool | None
    last_error: str | None
    last_collected_at: Timestamp | None
    queries: int
    active_alerts: int


def target(x: rm.TargetInfo) -> Target:
    return {
        "name": x.name, "engine": x.engine, "environment": x.environment, "tags": list(x.tags),
        "enabled": x.enabled, "up": x.up, "last_error": x.last_error,
        "last_collected_at": ts(x.last_collected_at), "queries": x.queries,
        "active_alerts": x.active_alerts,
    }


class CheckPoint(TypedDict):
    at: Timestamp | None
    status: str
    value: float | None


class CheckSummary(views.CheckSummary):
    recent: list[CheckPoint]


def check_summary(x: checks.CheckSummary | None, check: str, target: str,
                  points: list[Point]) -> CheckSummary:
    """The CLI's `checks --json` row plus the recent evaluations for a sparkline."""
    return {
        **views.check_summary(x, check, target),
        "recent": [{"at": ts(p.at), "status": p.status, "value": p.value} for p in points],
    }


class CheckResult(TypedDict):
    id: int
    check: str
    target: str
    labels: dict[str, Any]
    status: str
    value: float | None
    value_text: str | None
    duration_ms: float | None
    message: str
    executed_at: Timestamp | None


def check_result(x: ResultRow) -> CheckResult:
    return {
        "id": x.id, "check": x.check_name, "target": x.target, "labels": x.labels,
        "status": x.status, "value": x.value, "value_text": x.value_text,
        "duration_ms": x.duration_ms, "message": x.message, "executed_at": ts(x.executed_at),
    }


class Checks(TypedDict):
    window_days: int
    checks: list[CheckSummary]
    failures: list[CheckResult]


class Worker(views.Worker):
    health: Annotated[str, one_of(WORKER_HEALTH)]
    heartbeat_age_s: float | None
    running_jobs: int
    queued_jobs: int


def worker(w: jobs.Worker, running: rm.WorkerJobs | None, now: datetime,
           heartbeat: timedelta) -> Worker:
    age = None if w.last_heartbeat is None else (now - w.last_heartbeat).total_seconds()
    return {
        **views.worker(w),
        "health": rm.heartbeat_health(w.status.value, w.last_heartbeat, now, heartbeat),
        "heartbeat_age_s": None if age is None else round(age, 1),
        "running_jobs": running.running if running else 0,
        "queued_jobs": running.queued if running else 0,
    }


class AlertCounts(TypedDict):
    active: int
    by_severity: dict[str, int]
    by_status: dict[str, int]


class TargetCounts(TypedDict):
    counts: dict[str, int]
    items: list[Target]


class Summary(TypedDict):
    generated_at: Timestamp | None
    health: dict[str, Any]
    alerts: AlertCounts
    targets: TargetCounts
    top_regressions: list[Alert]
    hotspots: list[Query]
    hotspots_io: list[Query]
    hotspots_calls: list[Query]
    hotspot_window_s: int
    workers: list[Worker]


RESPONSES: tuple[type[Any], ...] = (
    Error, Alert, AlertDetail, Query, QueryInfo, Series, Plan, PlanDiff, Target, CheckSummary,
    CheckResult, Checks, Worker, views.JobRun, Summary, views.Notification,
)
"""Every shape the API returns, named in the OpenAPI document by its class name."""

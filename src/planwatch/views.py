"""The stable JSON shapes of the CLI's `--json` output, also used by the API and notifications.

Each shape is defined once, as a TypedDict next to the function that builds it; the API's
shapes (web/shapes.py) extend these, and web/openapi.py generates the OpenAPI schemas from
both with pydantic. TypedDicts rather than BaseModels: the values stay the plain dicts that
`json.dumps` writes (nothing to construct or coerce per row on the dashboard's path, so an
int stays an int), and mypy checks every builder against its shape. docs/cli.md documents
them: keys are never renamed or removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired, cast

from pydantic import WithJsonSchema
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from planwatch.model import alerts, checks, jobs
from planwatch.model.findings import Severity
from planwatch.storage.queries import QuerySummary

Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
"""ISO 8601 with offset, as `datetime.isoformat` writes it (see `ts`)."""


def one_of(values: Iterable[str]) -> WithJsonSchema:
    """A string that is one of `values` (an enum's values: the schema follows the enum)."""
    return WithJsonSchema({"type": "string", "enum": [str(v) for v in values]})


def ts(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def stored(value: int | None) -> int:
    """The id of an object read from storage: never None there (only a new object has none),
    so the shapes say `int`; the value is passed through unchanged."""
    return cast(int, value)


class Alert(TypedDict):
    id: int
    kind: Annotated[str, one_of(alerts.AlertKind)]
    status: Annotated[str, one_of(alerts.AlertStatus)]
    severity: Annotated[str, one_of(Severity)]
    target: str
    database: str | None
    query_id: str | None
    query_text: str | None
    plan_changed: bool | None
    baseline_ms: float | None
    current_ms: float | None
    ratio: float | None
    opened_at: Timestamp | None
    updated_at: Timestamp | None
    resolved_at: Timestamp | None
    title: str
    details: dict[str, Any]


def alert(a: alerts.Alert) -> Alert:
    return {
        "id": stored(a.id),
        "kind": a.kind.value,
        "status": a.status.value,
        "severity": a.severity.value,
        "target": a.target,
        "database": a.database,
        "query_id": a.query_id,
        "query_text": a.query_text,
        "plan_changed": a.plan_changed,
        "baseline_ms": a.baseline_ms,
        "current_ms": a.current_ms,
        "ratio": a.ratio,
        "opened_at": ts(a.opened_at),
        "updated_at": ts(a.updated_at),
        "resolved_at": ts(a.resolved_at),
        "title": a.title,
        "details": a.details,
    }


class Baseline(TypedDict):
    state: Literal["learning", "ready"]
    samples: int
    needed: int


def baseline(samples: int, needed: int) -> Baseline:
    """A query's baseline: `learning` until it has `needed` intervals, then `ready`."""
    return {"state": "learning" if samples < needed else "ready", "samples": samples,
            "needed": needed}


class Query(TypedDict):
    target: str
    database: str
    query_id: str
    fingerprint: str
    query_text: str | None
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    plan_count: int
    plan_changed: bool
    last_plan_hash: str | None
    first_seen: Timestamp | None
    last_seen: Timestamp | None
    baseline: Baseline


def query(q: QuerySummary, needed: int) -> Query:
    """`needed`: analysis.regression.min_baseline_samples."""
    return {
        "target": q.ref.target,
        "database": q.ref.database,
        "query_id": q.ref.query_id,
        "fingerprint": q.ref.fingerprint,
        "query_text": q.text,
        "calls": q.calls,
        "total_ms": round(q.total_ms, 3),
        "mean_ms": round(q.mean_ms, 3),
        "rows": q.rows,
        "plan_count": q.plan_count,
        "plan_changed": q.plan_count > 1,
        "last_plan_hash": q.last_plan_hash,
        "first_seen": ts(q.first_seen),
        "last_seen": ts(q.last_seen),
        "baseline": baseline(q.baseline_samples, needed),
    }


class Worker(TypedDict):
    instance_id: str
    name: str
    host: str
    pid: int
    version: str
    environment: str
    status: str
    started_at: Timestamp | None
    stopped_at: Timestamp | None
    last_heartbeat: Timestamp | None
    config_digest: str


def worker(w: jobs.Worker) -> Worker:
    return {
        "instance_id": w.instance_id, "name": w.name, "host": w.host, "pid": w.pid,
        "version": w.version, "environment": w.environment, "status": w.status.value,
        "started_at": ts(w.started_at), "stopped_at": ts(w.stopped_at),
        "last_heartbeat": ts(w.last_heartbeat), "config_digest": w.config_digest,
    }


class JobRun(TypedDict):
    id: int
    job_type: str
    job_name: str
    worker_id: str
    status: str
    result_status: str | None
    scheduled_at: Timestamp | None
    started_at: Timestamp | None
    completed_at: Timestamp | None
    duration_ms: float | None
    message: str
    error: str | None
    retry_count: int
    next_retry_at: Timestamp | None
    target: str | None
    data: dict[str, Any]


def job_run(r: jobs.JobRun) -> JobRun:
    return {
        "id": stored(r.id), "job_type": r.job_type, "job_name": r.job_name,
        "worker_id": r.worker_id, "status": r.status.value,
        "result_status": r.result_status.value if r.result_status else None,
        "scheduled_at": ts(r.scheduled_at), "started_at": ts(r.started_at),
        "completed_at": ts(r.completed_at), "duration_ms": r.duration_ms,
        "message": r.message, "error": r.error, "retry_count": r.retry_count,
        "next_retry_at": ts(r.next_retry_at), "target": r.target, "data": r.data,
    }


class CheckSummary(TypedDict):
    check: str
    target: str
    last_status: str | None
    last_at: Timestamp | None
    last_value: float | None
    last_message: str | None
    runs_7d: int
    ok_7d: int
    success_rate_7d: float | None


def check_summary(c: checks.CheckSummary | None, check: str, target: str) -> CheckSummary:
    """One (check, target) of the monitoring summary; `c` None: configured, never run."""
    rate = c.success_rate if c else None
    return {
        "check": check, "target": target,
        "last_status": c.last_status.value if c else None,
        "last_at": ts(c.last_at) if c else None,
        "last_value": c.last_value if c else None,
        "last_message": c.last_message if c else None,
        "runs_7d": c.runs if c else 0, "ok_7d": c.ok if c else 0,
        "success_rate_7d": round(rate, 4) if rate is not None else None,
    }


class Notification(TypedDict):
    id: int
    channel: str
    kind: Annotated[str, one_of(("alerts", "daily_summary"))]
    status: Annotated[str, one_of(alerts.NotificationStatus)]
    idempotency_key: str
    group: str
    title: str
    items: int
    attempts: int
    last_error: str | None
    created_at: Timestamp | None
    expires_at: Timestamp | None
    sent_at: Timestamp | None
    alert_ids: list[int]


def notification(n: alerts.Notification, alert_ids: Iterable[int] = ()) -> Notification:
    """A message to a channel (docs/alerting.md); the payload is what the channel receives."""
    return {
        "id": stored(n.id), "channel": n.channel, "kind": n.kind, "status": n.status.value,
        "idempotency_key": n.key, "group": n.group_key, "title": n.title, "items": n.items,
        "attempts": n.attempts, "last_error": n.last_error, "created_at": ts(n.created_at),
        "expires_at": ts(n.expires_at), "sent_at": ts(n.sent_at), "alert_ids": list(alert_ids),
    }


class Silence(TypedDict):
    id: int | None
    source: Literal["config", "storage"]
    matchers: dict[str, str]
    starts_at: Timestamp | None
    ends_at: Timestamp | None
    active: bool
    comment: str
    created_by: str


def silence(s: alerts.Silence, now: datetime) -> Silence:
    """`silences list --json`: configured silences have no id."""
    return {
        "id": s.id, "source": "config" if s.id is None else "storage",
        "matchers": s.matchers, "starts_at": ts(s.starts_at), "ends_at": ts(s.ends_at),
        "active": s.active(now), "comment": s.comment, "created_by": s.created_by,
    }


class ConfigProblem(TypedDict):
    path: str
    message: str


class ConfigReport(TypedDict):
    """`check-config --json`; the counts, storage and digest only when the file is valid."""

    valid: bool
    problems: list[ConfigProblem]
    targets: NotRequired[int]
    checks: NotRequired[int]
    storage: NotRequired[str]
    digest: NotRequired[str]
    ignored_environment: NotRequired[list[str]]

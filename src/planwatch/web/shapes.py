"""JSON shapes of the API (and the data the pages render), built on the CLI's `views`.

Alerts, queries, workers and job runs are exactly the CLI's `--json` objects, with a few
added keys (`id` of a query, `silenced_until`, links); nothing here is ever a secret: DSNs
are not stored, so they cannot leak.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from planwatch import views
from planwatch.model.alerts import Alert, Silence
from planwatch.model.checks import CheckSummary
from planwatch.model.jobs import Worker
from planwatch.storage.readmodels import (
    PlanInfo,
    QueryInfo,
    RankedQuery,
    Series,
    TargetInfo,
    WorkerJobs,
    heartbeat_health,
)
from planwatch.storage.readmodels_checks import Point, ResultRow


def ts(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def alert(a: Alert, query_pk: int | None = None,
          silence: Silence | None = None) -> dict[str, Any]:
    """The CLI's alert JSON plus the link to the query page and the silence covering it."""
    return {
        **views.alert(a), "query_pk": query_pk,
        "silenced_until": ts(silence.ends_at) if silence else None,
        "silenced_by": silence_label(silence) if silence else None,
    }


def silence_label(s: Silence) -> str:
    return f"silence {s.id}" if s.id is not None else "config silence"


def ranked_query(r: RankedQuery, needed: int) -> dict[str, Any]:
    return {"id": r.pk, **views.query(r.summary, needed)}


def query_info(info: QueryInfo, needed: int) -> dict[str, Any]:
    return {
        "id": info.pk, "target": info.ref.target, "database": info.ref.database,
        "query_id": info.ref.query_id, "fingerprint": info.ref.fingerprint,
        "query_text": info.text, "first_seen": ts(info.first_seen),
        "last_seen": ts(info.last_seen),
        "baseline": views.baseline(info.baseline_samples, needed),
    }


def series(x: Series) -> dict[str, Any]:
    """Columns per interval; `plan_changes` marks where the dominant plan differs."""
    return {
        "t": x.t, "mean_ms": [round(v, 3) for v in x.mean_ms], "calls": x.calls,
        "total_ms": [round(v, 3) for v in x.total_ms], "rows": x.rows,
        "blks_hit": x.blks_hit, "blks_read": x.blks_read, "blks_temp": x.blks_temp,
        "plan_hash": x.plan_hash, "plan_changes": plan_changes(x.t, x.plan_hash),
    }


def plan_changes(t: list[float], hashes: list[str | None]) -> list[dict[str, Any]]:
    """Intervals whose plan differs from the previous known plan (unknown plans are skipped)."""
    out: list[dict[str, Any]] = []
    previous: str | None = None
    for at, h in zip(t, hashes, strict=True):
        if h is None:
            continue
        if previous is not None and h != previous:
            out.append({"t": at, "from": previous, "to": h})
        previous = h
    return out


def plan(x: PlanInfo, with_text: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "plan_hash": x.plan_hash, "engine_plan_hash": x.engine_plan_hash,
        "first_seen": ts(x.first_seen), "last_seen": ts(x.last_seen),
    }
    if with_text:
        out |= {"plan_json": x.plan_json, "raw": x.raw}
    return out


def target(x: TargetInfo) -> dict[str, Any]:
    return {
        "name": x.name, "engine": x.engine, "environment": x.environment, "tags": list(x.tags),
        "enabled": x.enabled, "up": x.up, "last_error": x.last_error,
        "last_collected_at": ts(x.last_collected_at), "queries": x.queries,
        "active_alerts": x.active_alerts,
    }


def check_summary(x: CheckSummary | None, check: str, target: str,
                  points: list[Point]) -> dict[str, Any]:
    """The CLI's `checks --json` row plus the recent evaluations for a sparkline."""
    return {
        **views.check_summary(x, check, target),
        "recent": [{"at": ts(p.at), "status": p.status, "value": p.value} for p in points],
    }


def check_result(x: ResultRow) -> dict[str, Any]:
    return {
        "id": x.id, "check": x.check_name, "target": x.target, "labels": x.labels,
        "status": x.status, "value": x.value, "value_text": x.value_text,
        "duration_ms": x.duration_ms, "message": x.message, "executed_at": ts(x.executed_at),
    }


def worker(w: Worker, jobs: WorkerJobs | None, now: datetime,
           heartbeat: timedelta) -> dict[str, Any]:
    age = None if w.last_heartbeat is None else (now - w.last_heartbeat).total_seconds()
    return {
        **views.worker(w),
        "health": heartbeat_health(w.status.value, w.last_heartbeat, now, heartbeat),
        "heartbeat_age_s": None if age is None else round(age, 1),
        "running_jobs": jobs.running if jobs else 0,
        "queued_jobs": jobs.queued if jobs else 0,
    }

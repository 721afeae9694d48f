"""Stable JSON shapes for the CLI's --json output and the API (documented in docs/cli.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from planwatch.model.alerts import Alert
from planwatch.model.checks import CheckSummary
from planwatch.model.jobs import JobRun, Worker
from planwatch.storage.queries import QuerySummary


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def alert(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id,
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
        "opened_at": _ts(a.opened_at),
        "updated_at": _ts(a.updated_at),
        "resolved_at": _ts(a.resolved_at),
        "title": a.title,
        "details": a.details,
    }


def query(q: QuerySummary) -> dict[str, Any]:
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
        "first_seen": _ts(q.first_seen),
        "last_seen": _ts(q.last_seen),
    }


def worker(w: Worker) -> dict[str, Any]:
    return {
        "instance_id": w.instance_id, "name": w.name, "host": w.host, "pid": w.pid,
        "version": w.version, "environment": w.environment, "status": w.status.value,
        "started_at": _ts(w.started_at), "stopped_at": _ts(w.stopped_at),
        "last_heartbeat": _ts(w.last_heartbeat), "config_digest": w.config_digest,
    }


def job_run(r: JobRun) -> dict[str, Any]:
    return {
        "id": r.id, "job_type": r.job_type, "job_name": r.job_name, "worker_id": r.worker_id,
        "status": r.status.value,
        "result_status": r.result_status.value if r.result_status else None,
        "scheduled_at": _ts(r.scheduled_at), "started_at": _ts(r.started_at),
        "completed_at": _ts(r.completed_at), "duration_ms": r.duration_ms,
        "message": r.message, "error": r.error, "retry_count": r.retry_count,
        "next_retry_at": _ts(r.next_retry_at), "target": r.target, "data": r.data,
    }


def check_summary(c: CheckSummary | None, check: str, target: str) -> dict[str, Any]:
    """One (check, target) of the monitoring summary; `c` None: configured, never run."""
    rate = c.success_rate if c else None
    return {
        "check": check, "target": target,
        "last_status": c.last_status.value if c else None,
        "last_at": _ts(c.last_at) if c else None,
        "last_value": c.last_value if c else None,
        "last_message": c.last_message if c else None,
        "runs_7d": c.runs if c else 0, "ok_7d": c.ok if c else 0,
        "success_rate_7d": round(rate, 4) if rate is not None else None,
    }

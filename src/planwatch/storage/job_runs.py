"""The history of job runs: one row per run, written at start and completed at finish."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from planwatch.errors import NotFound
from planwatch.model.jobs import JobRun, JobStatus, ResultStatus
from planwatch.storage import _sql
from planwatch.storage.engine import Storage
from planwatch.storage.tables import job_runs as j


def start(st: Storage, run: JobRun) -> int:
    """Record a run (usually Running); its id is the correlation id of the run's log lines."""
    with st.begin() as conn:
        run_id: int = conn.execute(_START, _sql.params(_row(run))).scalar_one()
    return run_id


def finish(
    st: Storage,
    run_id: int,
    *,
    status: JobStatus,
    result_status: ResultStatus | None,
    completed_at: datetime,
    duration_ms: float,
    message: str = "",
    error: str | None = None,
    data: dict[str, Any] | None = None,
    retry_count: int = 0,
    next_retry_at: datetime | None = None,
) -> None:
    values = {
        "status": JobStatus(status).value,
        "result_status": None if result_status is None else ResultStatus(result_status).value,
        "completed_at": completed_at,
        "duration_ms": duration_ms,
        "message": message,
        "error": error,
        "data": data or {},
        "retry_count": retry_count,
        "next_retry_at": next_retry_at,
    }
    with st.begin() as conn:
        done = conn.execute(_FINISH, {"run_id": run_id, **_sql.params(values)})
    if done.rowcount == 0:
        raise NotFound(f"job run {run_id} does not exist")


def recent(
    st: Storage,
    *,
    limit: int = 100,
    job_type: str | None = None,
    job_name: str | None = None,
    target: str | None = None,
    worker_id: str | None = None,
) -> list[JobRun]:
    """The newest runs first, optionally filtered."""
    stmt = sa.select(j).order_by(j.c.id.desc()).limit(limit)
    for column, value in (
        (j.c.job_type, job_type),
        (j.c.job_name, job_name),
        (j.c.target, target),
        (j.c.worker_id, worker_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    with st.connect() as conn:
        return [_from_row(r) for r in conn.execute(stmt)]


_ROW = ("job_type", "job_name", "worker_id", "target", "status", "priority", "scheduled_at",
        "started_at", "completed_at", "duration_ms", "result_status", "message", "error",
        "retry_count", "max_retries", "next_retry_at", "data")
_FINISHED = ("status", "result_status", "completed_at", "duration_ms", "message", "error",
             "data", "retry_count", "next_retry_at")
_START = sa.insert(j).values(_sql.bound(j, _ROW)).returning(j.c.id)
_FINISH = sa.update(j).where(j.c.id == sa.bindparam("run_id")).values(_sql.bound(j, _FINISHED))


def _row(run: JobRun) -> dict[str, Any]:
    return {
        "job_type": run.job_type,
        "job_name": run.job_name,
        "worker_id": run.worker_id,
        "target": run.target,
        "status": JobStatus(run.status).value,
        "priority": run.priority,
        "scheduled_at": run.scheduled_at,
        "started_at": run.started_at,
        "completed_at": run.completed_at,
        "duration_ms": run.duration_ms,
        "result_status": None if run.result_status is None else run.result_status.value,
        "message": run.message,
        "error": run.error,
        "retry_count": run.retry_count,
        "max_retries": run.max_retries,
        "next_retry_at": run.next_retry_at,
        "data": run.data or {},
    }


def _from_row(row: Any) -> JobRun:
    return JobRun(
        id=row.id,
        job_type=row.job_type,
        job_name=row.job_name,
        worker_id=row.worker_id,
        status=JobStatus(row.status),
        scheduled_at=row.scheduled_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        duration_ms=row.duration_ms,
        result_status=None if row.result_status is None else ResultStatus(row.result_status),
        message=row.message,
        error=row.error,
        retry_count=row.retry_count,
        max_retries=row.max_retries,
        next_retry_at=row.next_retry_at,
        priority=row.priority,
        target=row.target,
        data=row.data or {},
    )

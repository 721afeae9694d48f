"""Periodic snapshots of each worker's own CPU, memory, jobs, errors and schedule lag."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from planwatch.model.jobs import WorkerMetrics
from planwatch.storage.engine import Storage
from planwatch.storage.tables import worker_metrics as wm


def record(st: Storage, m: WorkerMetrics) -> None:
    with st.begin() as conn:
        conn.execute(sa.insert(wm).values(
            worker_id=m.worker_id, at=m.at, cpu_percent=m.cpu_percent,
            memory_rss_bytes=m.memory_rss_bytes, jobs_run=m.jobs_run, errors=m.errors,
            schedule_lag_ms=m.schedule_lag_ms, data=m.data,
        ))


def recent(st: Storage, worker_id: str | None = None, *, since: datetime | None = None,
           limit: int = 1000) -> list[WorkerMetrics]:
    """Newest first; optionally one worker's, optionally only after `since`."""
    stmt = sa.select(wm).order_by(wm.c.at.desc(), wm.c.id.desc()).limit(limit)
    if worker_id is not None:
        stmt = stmt.where(wm.c.worker_id == worker_id)
    if since is not None:
        stmt = stmt.where(wm.c.at > since)
    with st.connect() as conn:
        return [
            WorkerMetrics(
                worker_id=r.worker_id, at=r.at, cpu_percent=r.cpu_percent,
                memory_rss_bytes=r.memory_rss_bytes, jobs_run=r.jobs_run, errors=r.errors,
                schedule_lag_ms=r.schedule_lag_ms, data=dict(r.data or {}),
            )
            for r in conn.execute(stmt)
        ]


def delete_before(st: Storage, before: datetime, *, batch_size: int) -> int:
    """Delete snapshots older than `before`, `batch_size` rows per transaction; rows deleted."""
    total = 0
    while True:
        with st.begin() as conn:
            ids = sa.select(wm.c.id).where(wm.c.at < before).limit(batch_size)
            done = conn.execute(sa.delete(wm).where(wm.c.id.in_(ids.scalar_subquery()))).rowcount
        total += done
        if done < batch_size:
            return total

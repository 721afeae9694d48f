"""The worker registry: registration, heartbeats, status, and dead-worker detection.

SQLite storage serves one worker: registering while another live worker holds it fails with
`StorageLockedError` (a worker whose heartbeat is stale does not count).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog

from planwatch.errors import NotFound, StorageLockedError
from planwatch.model.jobs import Worker, WorkerStatus
from planwatch.storage import _sql
from planwatch.storage.engine import Storage
from planwatch.storage.tables import workers as w

log = structlog.get_logger(__name__)

_LIVE = (WorkerStatus.STARTING.value, WorkerStatus.RUNNING.value)
_ALIVE = (*_LIVE, WorkerStatus.STOPPING.value)


def register(st: Storage, worker: Worker, *, stale_after: timedelta) -> None:
    """Insert or refresh this worker's row; on SQLite refuse when another live worker exists."""
    now = worker.last_heartbeat or worker.started_at
    with st.begin() as conn:  # on SQLite BEGIN IMMEDIATE: two starting workers serialize here
        if st.dialect == "sqlite":
            _refuse_if_taken(st, conn, worker, now - stale_after)
        _sql.upsert(conn, w, [_row(worker)], keys=("instance_id",))
    log.info("worker.registered", instance_id=worker.instance_id, host=worker.host, pid=worker.pid)


def _refuse_if_taken(
    st: Storage, conn: sa.Connection, worker: Worker, fresh_after: datetime
) -> None:
    stmt = sa.select(w).where(
        w.c.instance_id != worker.instance_id,
        w.c.status.in_(_LIVE),
        sa.func.coalesce(w.c.last_heartbeat, w.c.started_at) > fresh_after,
    )
    other = conn.execute(stmt).first()
    if other is not None:
        beat = other.last_heartbeat or other.started_at
        raise StorageLockedError(
            f"SQLite storage {st.url_safe} is in use by worker {other.name!r} "
            f"(host {other.host}, pid {other.pid}, last heartbeat {beat:%Y-%m-%d %H:%M:%S} UTC); "
            "SQLite storage serves one worker: stop that worker, or use PostgreSQL storage "
            "to run several"
        )


def heartbeat(st: Storage, instance_id: str, at: datetime) -> None:
    """A sign of life; a worker marked Dead while it was only slow is Running again."""
    revived = sa.case((w.c.status == WorkerStatus.DEAD.value, WorkerStatus.RUNNING.value),
                      else_=w.c.status)
    _update(st, instance_id, last_heartbeat=at, status=revived)


def applied_config(st: Storage, instance_id: str, digest: str, at: datetime) -> None:
    """Record that the worker now runs the configuration with `digest` (after a reload)."""
    _update(st, instance_id, config_digest=digest, last_heartbeat=at)


def set_status(st: Storage, instance_id: str, status: WorkerStatus, at: datetime) -> None:
    """Record a lifecycle transition; Stopped also records stopped_at."""
    values: dict[str, Any] = {"status": WorkerStatus(status).value, "last_heartbeat": at}
    if status is WorkerStatus.STOPPED:
        values["stopped_at"] = at
    _update(st, instance_id, **values)


def _update(st: Storage, instance_id: str, **values: Any) -> None:
    with st.begin() as conn:
        done = conn.execute(sa.update(w).where(w.c.instance_id == instance_id).values(**values))
    if done.rowcount == 0:
        raise NotFound(f"worker {instance_id} is not registered")


def list_all(st: Storage) -> list[Worker]:
    """Every known worker, most recently started first."""
    stmt = sa.select(w).order_by(w.c.started_at.desc(), w.c.instance_id)
    with st.connect() as conn:
        return [_from_row(r) for r in conn.execute(stmt)]


def mark_dead(st: Storage, stale_before: datetime) -> list[str]:
    """Mark workers whose last sign of life is older than `stale_before` Dead; their ids."""
    last_seen = sa.func.coalesce(w.c.last_heartbeat, w.c.started_at)
    with st.begin() as conn:
        stmt = sa.select(w.c.instance_id).where(w.c.status.in_(_ALIVE), last_seen < stale_before)
        dead: Sequence[str] = conn.execute(stmt).scalars().all()
        if dead:
            conn.execute(
                sa.update(w).where(w.c.instance_id.in_(dead)).values(status=WorkerStatus.DEAD.value)
            )
    for instance_id in dead:
        log.warning("worker.dead", instance_id=instance_id)
    return list(dead)


def _row(worker: Worker) -> dict[str, Any]:
    return {
        "instance_id": worker.instance_id,
        "name": worker.name,
        "host": worker.host,
        "pid": worker.pid,
        "version": worker.version,
        "environment": worker.environment,
        "status": WorkerStatus(worker.status).value,
        "started_at": worker.started_at,
        "stopped_at": worker.stopped_at,
        "last_heartbeat": worker.last_heartbeat,
        "config_digest": worker.config_digest,
        "tags": list(worker.tags),
    }


def _from_row(row: Any) -> Worker:
    return Worker(
        instance_id=row.instance_id,
        name=row.name,
        host=row.host,
        pid=row.pid,
        version=row.version,
        environment=row.environment,
        status=WorkerStatus(row.status),
        started_at=row.started_at,
        stopped_at=row.stopped_at,
        last_heartbeat=row.last_heartbeat,
        config_digest=row.config_digest,
        tags=tuple(row.tags or ()),
    )

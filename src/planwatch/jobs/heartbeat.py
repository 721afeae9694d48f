"""Heartbeat job: keep this worker's row fresh, mark workers with stale heartbeats Dead, and
(on the holder of the `job:worker_watch` lease) turn dead workers into health alerts."""

from __future__ import annotations

from datetime import datetime

import structlog

from planwatch.checks import plan
from planwatch.clock import utcnow
from planwatch.jobs import worker_watch
from planwatch.jobs.deps import JobDeps
from planwatch.scheduling.runner import JobContext, JobOutcome
from planwatch.storage import worker_metrics, workers

log = structlog.get_logger(__name__)


def beat(deps: JobDeps) -> list[str]:
    now = utcnow()
    workers.heartbeat(deps.storage, deps.worker_id, now)
    interval = deps.settings.scheduling.jobs["heartbeat"].interval
    stale = (interval or now - now) * 4
    dead = [w for w in workers.mark_dead(deps.storage, now - stale) if w != deps.worker_id]
    if deps.fleet is not None:
        deps.fleet.refresh((t.name for t in deps.settings.targets if t.enabled), now,
                           plan.endpoint_labels(deps.settings.checks, deps.settings.targets))
        if deps.fleet.take_singleton(worker_watch.LEASE, stale, now):
            _watch(deps, now)
    return dead


def _watch(deps: JobDeps, now: datetime) -> None:
    """Dead-worker alerts; a failure here is logged, never the heartbeat's own failure."""
    try:
        worker_watch.evaluate(deps, now)
    except Exception as exc:
        log.warning("worker_watch.failed", error=str(exc))


async def heartbeat(deps: JobDeps, ctx: JobContext) -> JobOutcome:
    now = utcnow()
    stats = deps.self_stats
    snapshot = stats.snapshot(now) if stats is not None and stats.due(now) else None
    try:
        dead = await deps.blocking(beat, deps)
        if snapshot is not None:
            await deps.blocking(worker_metrics.record, deps.storage, snapshot)
    except Exception as exc:
        deps.state.storage_ok, deps.state.storage_error = False, str(exc)
        raise
    deps.state.storage_ok, deps.state.storage_error = True, None
    if dead:
        ctx.log.warning("workers.dead", workers=dead)
    return JobOutcome(message="ok", data={"marked_dead": dead})

"""Heartbeat job: keep this worker's row fresh and mark workers with stale heartbeats Dead."""

from __future__ import annotations

from planwatch.clock import utcnow
from planwatch.jobs.deps import JobDeps
from planwatch.scheduling.runner import JobContext, JobOutcome
from planwatch.storage import worker_metrics, workers


def beat(deps: JobDeps) -> list[str]:
    now = utcnow()
    workers.heartbeat(deps.storage, deps.worker_id, now)
    interval = deps.settings.scheduling.jobs["heartbeat"].interval
    stale = (interval or now - now) * 4
    dead = [w for w in workers.mark_dead(deps.storage, now - stale) if w != deps.worker_id]
    if deps.fleet is not None:
        deps.fleet.refresh((t.name for t in deps.settings.targets if t.enabled), now)
    return dead


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

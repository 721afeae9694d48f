"""Maintenance job: weekly sample partitions ahead, VACUUM (ANALYZE) / PRAGMA optimize and
incremental vacuum of the storage database."""

from __future__ import annotations

from planwatch.clock import utcnow
from planwatch.jobs.deps import JobDeps
from planwatch.scheduling.runner import JobContext, JobOutcome
from planwatch.storage import maintenance


async def run(deps: JobDeps, ctx: JobContext) -> JobOutcome:
    done = await deps.blocking(maintenance.run, deps.storage, utcnow())
    ctx.log.info("maintenance.done", dialect=deps.storage.dialect)
    return JobOutcome(message=f"{deps.storage.dialect} maintenance done", data=done)

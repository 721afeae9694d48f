"""Daily summary job: render the summary once and put it in the outbox for every channel.

The alert processing job delivers it like any notification: retried with backoff while a
channel is down, given up (and re-sendable) after a day. Its key is the day, so a second run
on the same day (a restart, a missed run caught up) sends nothing more.
"""

from __future__ import annotations

from datetime import datetime

from planwatch.alerting import summary
from planwatch.clock import utcnow
from planwatch.jobs.deps import JobDeps
from planwatch.scheduling.runner import JobContext, JobOutcome


def queue(deps: JobDeps, now: datetime) -> tuple[summary.Summary, list[str]]:
    """Blocking: collect the summary at `now` and enqueue it; the new messages' keys."""
    s = summary.collect(deps.storage, deps.settings, now)
    return s, summary.enqueue(deps.storage, deps.settings, s, now, key=("daily", f"{now:%F}"))


async def run(deps: JobDeps, ctx: JobContext) -> JobOutcome:
    s, keys = await deps.blocking(queue, deps, utcnow())
    ctx.log.info("summary.queued", messages=len(keys), status=s.status)
    message = (f"queued for {len(keys)} channel(s)" if keys
               else "already queued today (or no channels)")
    return JobOutcome(message=message, data={"queued": len(keys), "status": s.status,
                                             "counts": s.counts()})

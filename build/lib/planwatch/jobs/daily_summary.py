"""Daily summary job: render the summary once and send it to every channel, each on its own."""

from __future__ import annotations

import asyncio
from datetime import datetime

from planwatch.alerting import channels, summary
from planwatch.clock import utcnow
from planwatch.jobs.deps import JobDeps
from planwatch.model.jobs import ResultStatus
from planwatch.scheduling.runner import JobContext, JobOutcome


async def send(deps: JobDeps, now: datetime | None = None) -> dict[str, str | None]:
    """Send the summary at `now`; returns each channel's error (None when it was accepted)."""
    s = await deps.blocking(summary.collect, deps.storage, deps.settings, now or utcnow())
    msg = summary.message(s)
    targets = [channels.create(c) for c in deps.settings.alerting.channels]

    async def one(ch: channels.Channel) -> str | None:
        try:
            await deps.blocking(ch.send, msg)
        except Exception as exc:  # one channel's failure never stops the others
            return str(exc) if isinstance(exc, channels.DeliveryError) else type(exc).__name__
        return None

    results = await asyncio.gather(*(one(ch) for ch in targets))
    return {ch.name: err for ch, err in zip(targets, results, strict=True)}


async def run(deps: JobDeps, ctx: JobContext) -> JobOutcome:
    results = await send(deps)
    failed = {name: err for name, err in results.items() if err is not None}
    for name, err in failed.items():
        ctx.log.warning("summary.failed", channel=name, error=err)
    ctx.log.info("summary.sent", channels=len(results) - len(failed), failed=len(failed))
    status = ResultStatus.WARNING if failed else ResultStatus.HEALTHY
    message = f"sent to {len(results) - len(failed)} of {len(results)} channel(s)"
    return JobOutcome(status, message, {"failed": failed, "channels": sorted(results)})

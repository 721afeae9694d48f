"""Alert processing job: escalate, time out unevaluated alerts, route, batch, deliver.

The storage steps are bulk and blocking (thread pool); delivery then runs one coroutine per
channel so a dead channel never holds up the others.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from functools import partial
from typing import Any

from planwatch.alerting import (
    channels,
    delivery,
    escalation,
    grouping,
    messages,
    outbox,
    timeouts,
)
from planwatch.alerting import silences as silence_rules
from planwatch.clock import utcnow
from planwatch.config.settings import Settings
from planwatch.jobs.deps import JobDeps
from planwatch.model.alerts import Silence
from planwatch.model.jobs import ResultStatus
from planwatch.scheduling.backoff import RetryPolicy
from planwatch.scheduling.runner import JobContext, JobOutcome
from planwatch.storage import silences as silence_store
from planwatch.storage.engine import Storage


def active_silences(st: Storage, settings: Settings, now: datetime) -> list[Silence]:
    """Config silences plus stored ones that have not ended."""
    configured = silence_rules.from_settings(settings.alerting.silences)
    return [*configured, *silence_store.list_silences(st, active_at=now)]


def prepare(
    st: Storage, settings: Settings, now: datetime, *, running_since: datetime
) -> dict[str, Any]:
    """Blocking: escalations, auto-resolutions, routing and batching, in bulk; returns counts."""
    cfg = settings.alerting
    silenced = active_silences(st, settings, now)
    tags = outbox.target_tags(settings)
    escalated = escalation.escalate(st, cfg.escalation, silenced, tags, now)
    expired = timeouts.resolve_stale(st, cfg.auto_resolve_after, now, running_since=running_since)
    routed = outbox.route_pending(st, settings, silenced, now)
    routed.messages = outbox.batch_due(st, settings, now)
    return {"escalated": len(escalated), "auto_resolved": len(expired), **asdict(routed)}


async def cycle(
    deps: JobDeps, now: datetime | None = None
) -> tuple[dict[str, Any], delivery.DeliveryStats]:
    """One full cycle at `now` (tests pass their own clock)."""
    now = now or utcnow()
    st, settings = deps.storage, deps.settings
    counts = await deps.blocking(
        partial(prepare, st, settings, now, running_since=deps.state.started_at)
    )
    ctx = delivery.Context(
        storage=st, now=now, blocking=deps.blocking, worker=deps.worker_id,
        base=messages.base_url(settings.http),
        retry=RetryPolicy.from_settings(settings.scheduling.backoff),
        silences=await deps.blocking(active_silences, st, settings, now),
        tags=outbox.target_tags(settings),
        unreachable=frozenset(await deps.blocking(outbox.unreachable_targets, st)),
    )
    by_name = {c.name: (channels.create(c), grouping.policy(c))
               for c in settings.alerting.channels}
    return counts, await delivery.deliver_due(ctx, by_name)


async def process(deps: JobDeps, ctx: JobContext) -> JobOutcome:
    counts, delivered = await cycle(deps)
    for (channel, outcome), n in delivered.outcomes.items():
        deps.state.count("notifications", f"{channel}|{outcome}", n)  # for /metrics
    failing = sorted(set(delivered.failing_channels))
    data = {**counts, "sent": delivered.sent, "failed": delivered.failed,
            "given_up": delivered.given_up, "repeated": delivered.repeated,
            "failing_channels": failing}
    ctx.log.info("alert_processing.done", **data)
    status = ResultStatus.WARNING if failing else ResultStatus.HEALTHY
    message = f"{delivered.sent} sent, {delivered.failed} failed, {counts['escalated']} escalated"
    return JobOutcome(status, message + (f"; failing: {', '.join(failing)}" if failing else ""),
                      data)

"""Fleet gates for job specs: target jobs run where the target's lease is held, singleton
jobs where the job's lease is held. Without a fleet (one-shot CLI runs) nothing is gated."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta

import structlog

from planwatch.clock import utcnow
from planwatch.fleet import Fleet
from planwatch.jobs.deps import JobDeps
from planwatch.scheduling.runner import JobSpec

log = structlog.get_logger(__name__)

CALENDAR_JOB_LEASE = timedelta(minutes=30)
# Global jobs only: analysis and baseline rebuilds run on every worker for the targets it
# holds (jobs.analysis.owned), like collections.
SINGLETONS = frozenset({"daily_summary", "alert_processing", "retention_cleanup", "maintenance"})


def apply(deps: JobDeps, specs: Iterable[JobSpec]) -> list[JobSpec]:
    fleet = deps.fleet
    if fleet is None or not fleet.shared:
        return list(specs)
    return [_gated(deps, fleet, s) for s in specs]


def _gated(deps: JobDeps, fleet: Fleet, spec: JobSpec) -> JobSpec:
    if spec.target is not None:
        target = spec.target

        async def owns_target() -> bool:
            return fleet.owns_target(target)

        return replace(spec, gate=owns_target)
    if spec.kind in SINGLETONS:
        # Held across the gap to the next run; daily/cron jobs keep it long enough that a
        # worker whose tick comes late never runs the same day's job a second time.
        interval = spec.settings.interval
        ttl = interval * 2 if interval is not None else CALENDAR_JOB_LEASE

        async def holds_singleton() -> bool:
            try:
                return await deps.blocking(fleet.take_singleton, spec.kind, ttl, utcnow())
            except Exception as exc:  # storage down: let the run go ahead and fail visibly
                log.warning("fleet.lease_unavailable", job=spec.name, error=str(exc))
                return True

        return replace(spec, gate=holds_singleton)
    return spec

"""Baseline rebuild job: robust per-query (and per-plan) baselines over `baseline_days`."""

from __future__ import annotations

from datetime import datetime, timedelta

from planwatch.analysis import baselines
from planwatch.clock import utcnow
from planwatch.config.settings import TargetSettings
from planwatch.jobs.deps import JobDeps
from planwatch.scheduling.runner import JobContext, JobOutcome
from planwatch.storage import baselines as baseline_store
from planwatch.storage import samples


def rebuild_target(deps: JobDeps, target: str, now: datetime, *, only_new: bool = False) -> int:
    """Blocking: rebuild one target's baselines from samples before the current window.

    `only_new` adds baselines for queries that have none and leaves existing ones alone, so a
    regression in progress is never folded into the baseline it is measured against.
    """
    cfg = deps.settings.analysis.regression
    until = now - cfg.window
    since = now - timedelta(days=cfg.baseline_days)
    columns = samples.columns(deps.storage, since=since, until=until, target=target)
    built = baselines.compute_all(columns, window_start=since, window_end=until, now=now)
    if only_new:
        existing = baseline_store.load(deps.storage, target)
        built = [b for b in built if b.ref not in existing]
    baseline_store.replace(deps.storage, built)
    deps.state.baselines_built_at[target] = now
    return len(built)


def rebuild_due(deps: JobDeps, target: TargetSettings, now: datetime) -> bool:
    """New queries get a baseline at most once per analysis window (full rebuild is nightly)."""
    last = deps.state.baselines_built_at.get(target.name)
    return last is None or now - last >= deps.settings.analysis.regression.window


async def rebuild(deps: JobDeps, ctx: JobContext) -> JobOutcome:
    now = utcnow()
    counts = {}
    for target in deps.settings.targets:
        counts[target.name] = await deps.blocking(rebuild_target, deps, target.name, now)
    total = sum(counts.values())
    ctx.log.info("baselines.rebuilt", baselines=total)
    return JobOutcome(message=f"{total} baselines", data={"baselines": counts})

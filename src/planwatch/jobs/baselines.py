"""Baselines: the nightly full recompute, and the growth of learning baselines.

Both compute from samples that are not held out (regressed intervals, suspect intervals of a
learning query), so no baseline ever absorbs the slowdown it is measured against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from planwatch.analysis import baselines
from planwatch.clock import utcnow
from planwatch.jobs.deps import JobDeps
from planwatch.model.baselines import Baseline
from planwatch.model.samples import QueryRef
from planwatch.scheduling.runner import JobContext, JobOutcome
from planwatch.storage import baselines as baseline_store
from planwatch.storage import samples


def rebuild_target(deps: JobDeps, target: str, now: datetime) -> int:
    """Blocking: recompute every baseline of one target from the clean samples of the last
    `baseline_days`, up to the start of the current window."""
    cfg = deps.settings.analysis.regression
    until = now - cfg.window
    since = now - timedelta(days=cfg.baseline_days)
    columns = samples.columns(deps.storage, since=since, until=until, target=target)
    built = baselines.compute_all(columns, window_start=since, window_end=until, now=now)
    baseline_store.replace(deps.storage, built)
    return len(built)


def grow(
    deps: JobDeps, target: str, learned_until: Mapping[QueryRef, datetime], now: datetime
) -> list[Baseline]:
    """Blocking: recompute the baselines of these (learning) queries from all their clean
    samples up to `now`; a query left without any clean sample loses its baseline.

    `learned_until`: the end of the newest interval each query's baseline now covers, which
    becomes its `window_end` (engines that report closed intervals late, such as SQL Server's
    Query Store, deliver intervals that end before `now`)."""
    cfg = deps.settings.analysis.regression
    since = now - timedelta(days=cfg.baseline_days)
    ends = {(r.database, r.query_id): at for r, at in learned_until.items()}
    columns = samples.columns(deps.storage, since=since, until=now, target=target,
                              query_ids={r.query_id for r in learned_until})
    built = [replace(b, window_end=ends[key])
             for b in baselines.compute_all(columns, window_start=since, window_end=now, now=now)
             if (key := (b.ref.database, b.ref.query_id)) in ends]
    refs = list(learned_until)
    baseline_store.replace_for(deps.storage, refs, built)
    return built


async def rebuild(deps: JobDeps, ctx: JobContext) -> JobOutcome:
    """Every worker rebuilds the targets whose lease it holds (work follows the target)."""
    now = utcnow()
    counts = {}
    for target in deps.settings.targets:
        if target.enabled and (deps.fleet is None or deps.fleet.owns_target(target.name)):
            counts[target.name] = await deps.blocking(rebuild_target, deps, target.name, now)
    total = sum(counts.values())
    ctx.log.info("baselines.rebuilt", baselines=total)
    return JobOutcome(message=f"{total} baselines", data={"baselines": counts})

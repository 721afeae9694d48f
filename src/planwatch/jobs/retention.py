"""Retention cleanup job: each data kind's expired rows, deleted in batches (SPEC §3)."""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import datetime, timedelta

from planwatch.clock import utcnow
from planwatch.config.settings import RetentionSettings
from planwatch.jobs.deps import JobDeps
from planwatch.scheduling.runner import JobContext, JobOutcome
from planwatch.storage import plan_requests, retention
from planwatch.storage.engine import Storage


def cutoffs(cfg: RetentionSettings, now: datetime) -> dict[str, datetime]:
    """Per data kind, rows older than this go (worker metrics live as long as job runs).

    Raw samples past their days are rolled up into hourly rows, which expire later.
    """
    days = {
        "samples": cfg.samples_days, "samples_hourly": cfg.samples_hourly_days,
        "check_results": cfg.check_results_days,
        "job_runs": cfg.job_runs_days, "worker_metrics": cfg.job_runs_days,
        "resolved_alerts": cfg.resolved_alerts_days,
        "notifications": cfg.resolved_alerts_days,  # sent or given up messages
    }
    return {kind: now - timedelta(days=n) for kind, n in days.items()}


PLAN_REQUESTS_KEPT = timedelta(days=1)  # requests no analysis renewed (no longer suspects)


def clean(st: Storage, cfg: RetentionSettings, now: datetime) -> list[retention.Purged]:
    """Blocking: purge every kind in turn."""
    done = [
        retention.purge(st, kind, cutoff, batch_size=cfg.batch_size)
        for kind, cutoff in cutoffs(cfg, now).items()
    ]
    started = time.perf_counter()
    stale = plan_requests.expire(st, now - PLAN_REQUESTS_KEPT)
    took = time.perf_counter() - started
    return [*done, retention.Purged("plan_requests", stale, 1, took, took)]


async def cleanup(deps: JobDeps, ctx: JobContext) -> JobOutcome:
    done = await deps.blocking(clean, deps.storage, deps.settings.retention, utcnow())
    total = sum(p.rows for p in done)
    ctx.log.info("retention.done", rows=total, **{p.kind: p.rows for p in done})
    return JobOutcome(message=f"deleted {total} expired row(s)",
                      data={p.kind: asdict(p) for p in done})

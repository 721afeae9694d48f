"""Turn settings into the scheduler's job specs (one collection job per enabled target)."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from planwatch.jobs import analysis, baselines, checks, collection, gates, heartbeat
from planwatch.jobs.deps import JobDeps
from planwatch.scheduling.runner import JobSpec

COLLECTED_ENGINES = ("postgresql", "mysql", "mariadb", "sqlserver")
"""Engines with a statistics collector (`collectors.base.create`); the rest are checks only."""


def build(deps: JobDeps) -> list[JobSpec]:
    jobs = deps.settings.scheduling.jobs
    specs = [
        JobSpec(
            kind="collection", name=f"collection:{t.name}", settings=jobs["collection"],
            func=partial(collection.collect, deps, t.name), target=t.name, group="targets",
            timeout=t.command_timeout * 2 + t.connect_timeout,
        )
        for t in deps.settings.targets
        if t.enabled and t.engine in COLLECTED_ENGINES
    ]
    specs += [
        JobSpec(kind="analysis", name="analysis", settings=jobs["analysis"],
                func=partial(analysis.analyze, deps), timeout=timedelta(minutes=5)),
        JobSpec(kind="baseline_rebuild", name="baseline_rebuild",
                settings=jobs["baseline_rebuild"], func=partial(baselines.rebuild, deps),
                timeout=timedelta(hours=1)),
        JobSpec(kind="heartbeat", name="heartbeat", settings=jobs["heartbeat"],
                func=partial(heartbeat.heartbeat, deps), timeout=timedelta(seconds=30)),
    ]
    if deps.checks is not None and deps.settings.checks:
        # Checks run on their own loop (checks/runner.py); this job reports on it.
        specs.append(JobSpec(kind="checks", name="checks", settings=jobs["checks"],
                             func=partial(checks.report, deps), timeout=timedelta(minutes=1)))
    specs += _alerting_specs(deps)
    return gates.apply(deps, [s for s in specs if s.settings.enabled])


def _alerting_specs(deps: JobDeps) -> list[JobSpec]:
    """Alert processing, daily summary, health check, retention and maintenance."""
    from planwatch.jobs import (
        alert_processing,
        daily_summary,
        health_check,
        maintenance,
        retention,
    )

    jobs = deps.settings.scheduling.jobs
    return [
        JobSpec(kind="alert_processing", name="alert_processing",
                settings=jobs["alert_processing"], func=partial(alert_processing.process, deps),
                timeout=timedelta(minutes=5)),
        JobSpec(kind="daily_summary", name="daily_summary", settings=jobs["daily_summary"],
                func=partial(daily_summary.run, deps), timeout=timedelta(minutes=5)),
        JobSpec(kind="health_check", name="health_check", settings=jobs["health_check"],
                func=partial(health_check.check, deps), timeout=timedelta(minutes=1)),
        JobSpec(kind="retention_cleanup", name="retention_cleanup",
                settings=jobs["retention_cleanup"], func=partial(retention.cleanup, deps),
                timeout=timedelta(hours=2)),
        JobSpec(kind="maintenance", name="maintenance", settings=jobs["maintenance"],
                func=partial(maintenance.run, deps), timeout=timedelta(hours=2)),
    ]

"""SQL and endpoint checks in the worker: the runner, storing results, check alerts.

`CheckService` runs the `CheckRunner` loop and, every `FLUSH_EVERY`, stores the results
produced since (one insert per flush, not per execution) and applies the check-alert
transitions. Alerts are only read from storage when a run failed or a check alert is
known to be active, so a healthy fleet of checks costs no alert queries. If storage is
down, results wait in memory (bounded) and the `checks` job fails until it is back.
The `checks` job (`report`) records, in `job_runs`, what the runner did since its last run.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from planwatch.alerting import check_alerts
from planwatch.checks.plan import Task
from planwatch.checks.runner import CheckRunner
from planwatch.clock import utcnow
from planwatch.config.settings import Settings
from planwatch.errors import StorageError
from planwatch.fleet import Fleet
from planwatch.jobs.alerts import apply_transitions, check_policy
from planwatch.model.alerts import Alert, AlertKind
from planwatch.model.checks import CheckResult
from planwatch.model.jobs import ResultStatus
from planwatch.scheduling.runner import JobContext, JobOutcome
from planwatch.storage import alerts, check_results
from planwatch.storage.engine import Storage

if TYPE_CHECKING:
    from planwatch.jobs.deps import JobDeps

log = structlog.stdlib.get_logger(__name__)

FLUSH_EVERY = 1.0  # seconds between result writes
ACTOR = "planwatch:checks"


class CheckService:
    """The runner plus its persistence; `run(stop)` until stopped, `aclose()` at the end."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage
        self.runner = CheckRunner(settings)
        self.storage_error: str | None = None
        self._active_groups: set[tuple[str, str]] | None = None  # None: not read yet
        self._period: Counter[str] = Counter()

    def configure(self, settings: Settings) -> None:
        self.settings = settings
        self.runner.configure(settings)

    async def run(self, stop: asyncio.Event, fleet: Fleet | None = None) -> None:
        """Run checks and store their results until `stop` is set (a final flush then)."""
        if fleet is not None and fleet.shared:
            self.runner.gate = lambda task: runs_here(fleet, task)
        # Everything loaded at start (modules, settings: ~150k objects) lives as long as the
        # worker; freezing it keeps full GC passes from stalling the loop ~100 ms at a time,
        # which showed as the p99 schedule lag of frequent checks.
        gc.collect()
        gc.freeze()
        loop = asyncio.create_task(self.runner.run(stop), name="checks-runner")
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), FLUSH_EVERY)
                await self.flush()
        finally:
            await loop
            await self.flush()
            gc.unfreeze()

    async def flush(self) -> int:
        """Store pending results and apply alert transitions; returns results stored."""
        results = self.runner.drain()
        if not results:
            return 0
        try:
            await asyncio.to_thread(check_results.insert, self.storage, results)
        except StorageError as exc:
            self.runner.requeue(results)
            if self.storage_error is None:
                log.warning("checks.storage_failed", error=str(exc), pending=len(results))
            self.storage_error = str(exc)
            return 0
        self.storage_error = None
        self._period.update(r.status.value for r in results)
        try:
            await asyncio.to_thread(self.alert, results, utcnow())
        except StorageError as exc:  # re-evaluated from storage with the next results
            self._active_groups = None
            log.warning("checks.alerts_failed", error=str(exc))
        return len(results)

    def persist(self, results: Sequence[CheckResult], now: datetime) -> None:
        """Blocking: insert the results, then open/update/resolve their alerts."""
        check_results.insert(self.storage, results)
        self.alert(results, now)

    def alert(self, results: Sequence[CheckResult], now: datetime) -> None:
        """Blocking: fire or calm the alerts of the newest runs in `results`."""
        if self._active_groups is None:
            self._active_groups = self._groups(self._active())
        touched = {(r.check, r.target) for r in results}
        failing = any(r.status.rank > 0 for r in results)
        if not failing and not (touched & self._active_groups):
            return
        found = check_alerts.transitions(
            self._active(), results, now=now,
            runbooks={c.name: c.runbook_url for c in self.settings.checks},
            policies={c.name: check_policy(self.settings, c, now) for c in self.settings.checks},
        )
        saved = apply_transitions(self.storage, found, actor=ACTOR,
                                  repeat_interval=self.settings.alerting.repeat_interval)
        if saved:
            self._active_groups = self._groups(self._active())

    async def aclose(self) -> None:
        await self.runner.aclose()

    def take_period(self) -> Counter[str]:
        """Evaluations stored per status since the last call."""
        period, self._period = self._period, Counter()
        return period

    def _active(self) -> dict[str, Alert]:
        found = alerts.list_alerts(self.storage, status="open", kind="check", limit=100_000)
        return {a.dedup_key: a for a in found}

    @staticmethod
    def _groups(active: dict[str, Alert]) -> set[tuple[str, str]]:
        return {(str(a.details.get("check")), a.target) for a in active.values()
                if a.kind is AlertKind.CHECK}


def runs_here(fleet: Fleet, task: Task) -> bool:
    """SQL checks, and endpoint checks labelled with a target, run on the target's lease
    holder; other endpoint checks on the holder of their `endpoint:<label>` lease."""
    if task.check.kind == "sql" or task.target in fleet.targets:
        return fleet.owns_target(task.target)
    return fleet.owns_endpoint(task.target)


async def report(deps: JobDeps, ctx: JobContext) -> JobOutcome:
    """The `checks` job: what the runner did since the last report; fails while the
    results cannot be stored (so the job's failure budget and health see it)."""
    service = deps.checks
    if service is None:
        return JobOutcome(message="no check runner")
    if service.storage_error is not None:
        raise StorageError(f"check results are not being stored: {service.storage_error}")
    stats = service.runner.stats()
    period = service.take_period()
    skips = sum(s.skips for s in stats)
    data = {
        "tasks": len(stats), "evaluations": dict(period), "skips_total": skips,
        "runs_total": sum(s.runs for s in stats),
        "schedule_lag_p99_ms": round(service.runner.schedule_lag(0.99) * 1000, 1),
    }
    bad = period["error"] + period["critical"] + period["warning"]
    ctx.log.info("checks.report", **data)
    status = ResultStatus.WARNING if period["error"] else ResultStatus.HEALTHY
    message = f"{sum(period.values())} evaluations, {bad} not ok, {skips} skipped in total"
    return JobOutcome(result_status=status, message=message, data=data)

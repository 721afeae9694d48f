"""Composition root: settings -> storage, collectors, scheduler, HTTP; owns their lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import structlog

from planwatch import __version__
from planwatch.checks import plan
from planwatch.clock import utcnow
from planwatch.collectors.base import Collector
from planwatch.config import loader
from planwatch.config.settings import Settings
from planwatch.errors import ConfigError, PlanwatchError
from planwatch.fleet import Fleet
from planwatch.jobs import analysis, specs
from planwatch.jobs.checks import CheckService
from planwatch.jobs.deps import JobDeps, close_all
from planwatch.model.jobs import JobRun, Worker, WorkerStatus
from planwatch.runtime import RuntimeState
from planwatch.scheduling.backoff import RetryPolicy
from planwatch.scheduling.breaker import BreakerBoard
from planwatch.scheduling.pool import ContextPool
from planwatch.scheduling.runner import JobRecorder, Scheduler
from planwatch.selfstats import SelfStats
from planwatch.storage import job_runs, targets, workers
from planwatch.storage.engine import Storage
from planwatch.telemetry import Telemetry, TracingRecorder
from planwatch.web.services import WebServices

log = structlog.get_logger("planwatch.app")


class StorageRecorder:
    """Records every job run in job_runs (called from a worker thread by the scheduler)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def started(self, run: JobRun) -> int:
        return job_runs.start(self.storage, run)

    def finished(self, run_id: int, run: JobRun) -> None:
        job_runs.finish(
            self.storage, run_id, status=run.status, result_status=run.result_status,
            completed_at=run.completed_at or utcnow(), duration_ms=run.duration_ms or 0.0,
            message=run.message, error=run.error, data=run.data, retry_count=run.retry_count,
            next_retry_at=run.next_retry_at,
        )


def open_storage(settings: Settings) -> Storage:
    """Open and migrate the storage database (blocking)."""
    storage = Storage.open(settings.storage_url.reveal())
    try:
        storage.migrate()
    except BaseException:
        storage.close()  # no pooled session stays open behind the error
        raise
    return storage


@dataclass
class App:
    """One worker: scheduler + jobs + HTTP server on one event loop."""

    settings: Settings
    config_path: str | None = None
    one_shot: bool = False  # CLI --once commands: no worker registration, no HTTP
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: RuntimeState = field(default_factory=RuntimeState)

    def __post_init__(self) -> None:
        self.stop_event = asyncio.Event()
        self.ready = asyncio.Event()  # set once the scheduler runs and HTTP listens (sd_notify)
        self._stack = contextlib.AsyncExitStack()
        self._reload_lock = asyncio.Lock()
        self._background: set[asyncio.Task[object]] = set()

    async def __aenter__(self) -> App:
        await self._stack.__aenter__()
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        s = self.settings
        sched = s.scheduling
        # collections, analyses of several targets, and 4 for the other jobs (heartbeat first)
        executor = ContextPool(max_workers=s.parallel_targets + analysis.PARALLEL + 4,
                               thread_name_prefix="planwatch")
        self._stack.callback(executor.shutdown, wait=False, cancel_futures=True)
        loop = asyncio.get_running_loop()
        self.storage = await loop.run_in_executor(executor, open_storage, s)
        self._stack.callback(self.storage.close)
        await loop.run_in_executor(executor, targets.sync, self.storage, s.targets, utcnow())
        breakers = BreakerBoard.from_settings(sched)
        collectors: dict[str, Collector] = {}
        self._stack.callback(close_all, collectors)
        self.checks = CheckService(s, self.storage)
        self._stack.push_async_callback(self.checks.aclose)
        self.fleet: Fleet | None = None
        if not self.one_shot:
            await loop.run_in_executor(executor, self._register)
            self._stack.push_async_callback(self._mark_stopped)
            self.fleet = Fleet(self.storage, self.instance_id, ttl=self._lease_ttl(),
                               shared=self.storage.dialect == "postgresql")
            await loop.run_in_executor(executor, self.fleet.refresh, self.target_names(),
                                       utcnow(), plan.endpoint_labels(s.checks, s.targets))
        recorder: JobRecorder = StorageRecorder(self.storage)
        if s.telemetry.enabled and not self.one_shot:
            telemetry = Telemetry(s.telemetry, self.instance_id)
            self._stack.callback(telemetry.shutdown)
            recorder = TracingRecorder(recorder, telemetry)
        # The jobs observe the scheduler that runs them (self stats): it is built first and
        # given its jobs once their dependencies are complete (as a reload gives new ones).
        self.scheduler = Scheduler(
            (), recorder=recorder, retry=RetryPolicy.from_settings(sched.backoff),
            max_consecutive_failures=sched.max_consecutive_failures,
            worker_id=self.instance_id, jitter=sched.jitter,
            group_limits={"targets": s.parallel_targets},
        )
        self.state.job_states = self.scheduler.states  # read by the health_check job
        self_stats = None if self.one_shot else SelfStats(
            self.instance_id, self.scheduler.states, self.scheduler.schedule_lag_p99,
            every=self._lease_ttl())
        self.deps = JobDeps(
            settings=s, storage=self.storage, state=self.state, breakers=breakers,
            executor=executor, worker_id=self.instance_id, fleet=self.fleet,
            self_stats=self_stats, checks=self.checks, collectors=collectors,
        )
        self.scheduler.replace_specs(specs.build(self.deps))
        self.web = WebServices(
            instance_id=self.instance_id, storage=self.storage, state=self.state,
            jobs=self.scheduler, breakers=breakers, check_runner=self.checks.runner,
            fleet=self.fleet, current_settings=lambda: self.settings,
        )

    def _lease_ttl(self) -> timedelta:
        """A worker silent this long is dead: its row is marked so and its leases expire.
        Also how often a worker snapshots its own resource use into worker_metrics."""
        return (self.settings.scheduling.jobs["heartbeat"].interval or timedelta(seconds=15)) * 4

    def target_names(self) -> list[str]:
        return [t.name for t in self.settings.targets if t.enabled]

    def _register(self) -> None:
        now = utcnow()
        workers.register(
            self.storage,
            Worker(
                instance_id=self.instance_id,
                name=self.settings.worker_name or socket.gethostname(),
                host=socket.gethostname(), pid=os.getpid(), version=__version__,
                environment=self.settings.environment, status=WorkerStatus.RUNNING,
                started_at=now, last_heartbeat=now, config_digest=self.settings.digest,
            ),
            stale_after=self._lease_ttl(),
        )
        log.info("worker.started", worker=self.instance_id, storage=self.storage.url_safe,
                 targets=len(self.settings.targets))

    async def _mark_stopped(self) -> None:
        try:
            if self.fleet is not None:  # hand targets over now, not after the lease TTL
                await asyncio.to_thread(self.fleet.release_all)
            await asyncio.to_thread(
                workers.set_status, self.storage, self.instance_id, WorkerStatus.STOPPED, utcnow()
            )
        except Exception as exc:  # storage down at shutdown: nothing more we can do
            log.warning("worker.stop_unrecorded", error=str(exc))
        log.info("worker.stopped", worker=self.instance_id)

    def reload(self) -> None:
        """SIGHUP: re-read the configuration in the background (see `apply_reload`)."""
        if not hasattr(self, "scheduler"):
            log.warning("config.reload_ignored", reason="the worker is still starting")
            return
        self._spawn(self.apply_reload(), "reload")

    async def apply_reload(self) -> bool:
        """Re-read the config; apply it if valid (True), keep the running one otherwise.

        Collectors of unchanged targets are kept, so no interval of deltas is lost; those of
        changed or removed targets are closed once their collection is no longer running.
        """
        async with self._reload_lock:
            try:
                new = await asyncio.to_thread(loader.load, self.config_path)
            except PlanwatchError as exc:
                problems = [f"{p or '<root>'}: {m}" for p, m in exc.problems] if isinstance(
                    exc, ConfigError) else [str(exc)]
                log.error("config.reload_rejected", problems=problems,
                          detail="the running configuration stays in effect")
                return False
            for section, old_value, new_value in (
                ("storage.url", self.settings.storage_url.reveal(), new.storage_url.reveal()),
                ("http", self.settings.http, new.http),
                ("logging", self.settings.logging, new.logging),
            ):
                if old_value != new_value:
                    log.warning("config.reload_needs_restart", section=section)
            try:
                await asyncio.to_thread(targets.sync, self.storage, new.targets, utcnow())
                if not self.one_shot:  # `planwatch reload --wait` watches for this
                    await asyncio.to_thread(workers.applied_config, self.storage,
                                            self.instance_id, new.digest, utcnow())
            except PlanwatchError as exc:  # storage down: apply nothing, a later reload can
                log.error("config.reload_failed", error=str(exc),
                          detail="the running configuration stays in effect")
                return False
            kept = {t.name for t in new.targets if t in set(self.settings.targets)}
            retired = {n: c for n, c in self.deps.collectors.items() if n not in kept}
            for name in retired:
                del self.deps.collectors[name]
            self.settings = new
            self.deps = replace(self.deps, settings=new)
            enabled = set(self.target_names())
            self.deps.breakers.retain(enabled)
            for name in set(self.state.targets) - enabled:
                del self.state.targets[name]
            self.scheduler.replace_specs(specs.build(self.deps))
            self.checks.configure(new)
            for name, collector in retired.items():
                self._spawn(self._close_when_idle(f"collection:{name}", collector), "retire")
            log.info("config.reloaded", targets=len(new.targets), digest=new.digest[:12])
            return True

    async def _close_when_idle(self, job: str, collector: Collector) -> None:
        running = self.scheduler.in_flight(job)
        if running:
            await asyncio.wait(running)
        await asyncio.to_thread(collector.close)

    def _spawn(self, coro: Coroutine[Any, Any, object], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def run(self) -> None:
        """Run until `stop_event` is set: scheduler and (if enabled) the HTTP server."""
        from planwatch.web.server import serve

        tasks = [asyncio.create_task(self.scheduler.run(self.stop_event), name="scheduler")]
        tasks.append(asyncio.create_task(self.checks.run(self.stop_event, self.fleet),
                                         name="checks"))
        if self.settings.http.enabled:
            tasks.append(asyncio.create_task(serve(self.web, self.stop_event, self.ready),
                                             name="http"))
        else:
            self.ready.set()
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                if t.exception():
                    raise t.exception()  # type: ignore[misc]
        finally:
            self.stop_event.set()
            for task in self._background:  # a reload in progress, collectors being retired
                task.cancel()
            await asyncio.gather(*tasks, *self._background, return_exceptions=True)

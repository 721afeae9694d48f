"""planwatch's own asyncio scheduler: a heap of next-run times, one task per run.

A job is never stacked (a tick that finds it still running is skipped and counted);
missed firings coalesce into one run; a failed run is retried after the `RetryPolicy`
delay instead of at its normal time; runs of one `group` share a semaphore. Every run is
recorded through a `JobRecorder`, whose failures are logged and never stop anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import structlog

from planwatch import logs, redaction
from planwatch.clock import utcnow
from planwatch.errors import NotFound
from planwatch.histogram import DURATION_BUCKETS, LAG_BUCKETS, Histogram
from planwatch.model.jobs import JobRun, JobStatus, ResultStatus
from planwatch.scheduling import triggers
from planwatch.scheduling.backoff import RetryPolicy
from planwatch.scheduling.spec import JobContext, JobOutcome, JobRecorder, JobSpec, JobState

__all__ = ["JobContext", "JobOutcome", "JobRecorder", "JobSpec", "JobState", "Scheduler"]

log = structlog.stdlib.get_logger(__name__)

MAX_SLEEP = 1.0  # seconds; the loop ticks at least this often so /health/live sees progress
STOP_TIMEOUT = 5.0  # seconds granted to cancelled runs to finish and be recorded


@dataclass(eq=False)
class _Job:
    spec: JobSpec
    next_run: datetime | None = None
    version: int = 0  # bumped on every reschedule; older heap entries are stale
    task: asyncio.Task[JobOutcome] | None = None
    consecutive_failures: int = 0
    last_status: JobStatus | None = None
    last_result: ResultStatus | None = None
    last_started: datetime | None = None
    last_duration_ms: float | None = None
    last_error: str | None = None
    skipped_overlaps: int = 0
    runs: int = 0
    failures: int = 0

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


class _Entry(NamedTuple):
    due: datetime
    rank: int  # -priority: higher priority first among equally due runs
    seq: int
    job: _Job
    version: int
    manual: bool  # a trigger(): runs once, leaves the normal schedule alone


class Scheduler:
    def __init__(
        self,
        specs: Iterable[JobSpec],
        *,
        recorder: JobRecorder,
        retry: RetryPolicy,
        max_consecutive_failures: int,
        worker_id: str,
        jitter: timedelta = timedelta(0),
        group_limits: Mapping[str, int] | None = None,
        clock: Callable[[], datetime] = utcnow,
        stop_timeout: float = STOP_TIMEOUT,
        max_sleep: float = MAX_SLEEP,
    ) -> None:
        self._recorder = recorder
        self._retry = retry
        self._max_failures = max_consecutive_failures
        self._worker_id = worker_id
        self._jitter = jitter
        self._group_limits = dict(group_limits or {})
        self._clock = clock
        self._stop_timeout = stop_timeout
        self._max_sleep = max_sleep
        self._jobs: dict[str, _Job] = {}
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._tasks: set[asyncio.Task[JobOutcome]] = set()
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._lag: deque[float] = deque(maxlen=1024)
        self._durations: dict[str, Histogram] = {}  # by job kind, for /metrics
        self._lags: dict[str, Histogram] = {}
        self.last_tick: datetime = clock()
        now = clock()
        for spec in specs:
            self._add(spec, now)

    # -- public API --------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Start due jobs until `stop` is set; then cancel in-flight runs and wait for them."""
        watcher = asyncio.create_task(self._wake_on(stop), name="scheduler-stop")
        log.info("scheduler.started", jobs=len(self._jobs))
        try:
            while not stop.is_set():
                self.last_tick = self._clock()
                self._wakeup.clear()
                self._start_due(self.last_tick)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._sleep_for())
        finally:
            watcher.cancel()
            await self._cancel_in_flight()
            log.info("scheduler.stopped")

    def trigger(self, name: str) -> None:
        """Run `name` as soon as possible, once, without moving its normal schedule."""
        job = self._job(name)
        self._push(job, self._clock(), manual=True)

    async def run_once(self, name: str) -> JobOutcome:
        """Run `name` now, record it and return its outcome (errors become an ERROR outcome)."""
        job = self._job(name)
        task = self._spawn(job, self._clock())
        return await task

    def replace_specs(self, specs: Iterable[JobSpec]) -> None:
        """Apply a reloaded configuration: keep the state of jobs whose name survives."""
        now = self._clock()
        new = {spec.name: spec for spec in specs}
        for name in set(self._jobs) - set(new):
            del self._jobs[name]  # its heap entries are dropped when they come up
        for name, spec in new.items():
            job = self._jobs.get(name)
            if job is None:
                self._add(spec, now)
                continue
            old, job.spec = job.spec, spec
            if old.settings != spec.settings:
                self._schedule(job, triggers.next_run(spec.settings, now, **self._jitter_for(job)))
        log.info("scheduler.specs_replaced", jobs=len(self._jobs))

    def in_flight(self, name: str) -> list[asyncio.Task[JobOutcome]]:
        """The runs of `name` in flight (also of a job a reload just removed)."""
        return [t for t in self._tasks if t.get_name() == f"job:{name}" and not t.done()]

    def states(self) -> list[JobState]:
        return [self._state(job) for _, job in sorted(self._jobs.items())]

    @property
    def schedule_lag_seconds(self) -> list[float]:
        """Recent delays between a run's due time and its actual start."""
        return list(self._lag)

    def schedule_lag(self, quantile: float) -> float:
        """A quantile (0..1) of recent schedule lag in seconds; 0 before any run."""
        if not self._lag:
            return 0.0
        ordered = sorted(self._lag)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]

    def schedule_lag_p99(self) -> float:
        return self.schedule_lag(0.99)

    def duration_histograms(self) -> dict[str, Histogram]:
        """Durations of finished runs (completed or failed) by job kind."""
        return dict(self._durations)

    def lag_histograms(self) -> dict[str, Histogram]:
        """Delays between due time and start, by job kind."""
        return dict(self._lags)

    # -- the loop ----------------------------------------------------------------------

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wakeup.set()

    def _sleep_for(self) -> float:
        if not self._heap:
            return self._max_sleep
        until = (self._heap[0].due - self._clock()).total_seconds()
        return min(max(until, 0.0), self._max_sleep)

    def _start_due(self, now: datetime) -> None:
        while self._heap and self._heap[0].due <= now:
            entry = heapq.heappop(self._heap)
            job = entry.job
            if self._jobs.get(job.spec.name) is not job:
                continue  # removed by a reload
            if job.version != entry.version and not entry.manual:
                continue  # rescheduled since
            if not entry.manual:
                nxt = triggers.next_due(job.spec.settings, entry.due, now, **self._jitter_for(job))
                self._schedule(job, nxt)
            if job.running:
                job.skipped_overlaps += 1
                log.info("job.skipped", job=job.spec.name, reason="still running")
                continue
            self._spawn(job, entry.due)

    def _spawn(self, job: _Job, due: datetime) -> asyncio.Task[JobOutcome]:
        task = asyncio.create_task(self._execute(job, due), name=f"job:{job.spec.name}")
        job.task = task
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[JobOutcome]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("job.crashed", job=task.get_name(), error=_describe(exc))

    async def _cancel_in_flight(self) -> None:
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self._stop_timeout)
            if pending:
                log.warning("scheduler.stop_timeout", jobs=sorted(t.get_name() for t in pending))

    # -- one run -----------------------------------------------------------------------

    async def _execute(self, job: _Job, due: datetime) -> JobOutcome:
        if job.spec.gate is not None and not await job.spec.gate():
            log.debug("job.skipped", job=job.spec.name, reason="owned by another worker")
            return JobOutcome(message="skipped: owned by another worker", data={"skipped": True})
        group = job.spec.group
        if group is None or group not in self._group_limits:
            return await self._run(job, due)
        semaphore = self._semaphores.setdefault(
            group, asyncio.Semaphore(max(1, self._group_limits[group]))
        )
        async with semaphore:
            return await self._run(job, due)

    async def _run(self, job: _Job, due: datetime) -> JobOutcome:
        spec = job.spec
        started = self._clock()
        lag = max(0.0, (started - due).total_seconds())
        self._lag.append(lag)
        _histogram(self._lags, spec.kind, LAG_BUCKETS).observe(lag)
        run = JobRun(
            id=None, job_type=spec.kind, job_name=spec.name, worker_id=self._worker_id,
            status=JobStatus.RUNNING, scheduled_at=due, started_at=started,
            retry_count=job.consecutive_failures, max_retries=self._max_failures,
            priority=spec.priority, target=spec.target,
        )
        job.last_started, job.runs = started, job.runs + 1
        run_id = await self._record_started(run)
        logs.bind_job(run_id, spec.name, spec.target)
        bound = log.bind(run_id=run_id, job=spec.name, target=spec.target)
        ctx = JobContext(run_id, spec, due, job.consecutive_failures, bound)
        t0 = time.monotonic()
        try:
            outcome = await self._call(spec, ctx)
        except asyncio.CancelledError:
            job.last_status = JobStatus.CANCELLED
            bound.info("job.cancelled")
            await self._finish(run_id, run, t0, JobStatus.CANCELLED, None, "cancelled")
            raise
        except Exception as exc:
            return await self._failed(job, run_id, run, t0, exc, bound)
        if job.consecutive_failures:
            bound.info("job.recovered", after_failures=job.consecutive_failures)
        job.consecutive_failures, job.last_error = 0, None
        job.last_status, job.last_result = JobStatus.COMPLETED, outcome.result_status
        job.last_duration_ms = self._timed(job, await self._finish(
            run_id, run, t0, JobStatus.COMPLETED, outcome.result_status, outcome.message,
            data=outcome.data,
        ))
        bound.debug("job.done", ms=job.last_duration_ms, result=outcome.result_status.value)
        return outcome

    async def _call(self, spec: JobSpec, ctx: JobContext) -> JobOutcome:
        if spec.timeout is None:
            return await spec.func(ctx)
        deadline = asyncio.timeout(spec.timeout.total_seconds())
        try:
            async with deadline:
                return await spec.func(ctx)
        except TimeoutError:
            if deadline.expired():
                raise TimeoutError(f"job exceeded its timeout of {spec.timeout}") from None
            raise

    async def _failed(
        self,
        job: _Job,
        run_id: int | None,
        run: JobRun,
        t0: float,
        exc: Exception,
        bound: structlog.stdlib.BoundLogger,
    ) -> JobOutcome:
        job.consecutive_failures += 1
        job.failures += 1
        error = redaction.redact(f"{type(exc).__name__}: {exc}")
        retry_at = self._clock() + self._retry.delay(job.consecutive_failures)
        job.last_status, job.last_result, job.last_error = (
            JobStatus.FAILED, ResultStatus.ERROR, error,
        )
        bound.warning(
            "job.failed", error=error, consecutive_failures=job.consecutive_failures,
            retry_at=retry_at.isoformat(),
        )
        if job.consecutive_failures == self._max_failures:
            bound.error("job.unhealthy", consecutive_failures=job.consecutive_failures)
        job.last_duration_ms = self._timed(job, await self._finish(
            run_id, run, t0, JobStatus.FAILED, ResultStatus.ERROR, error,
            error=error, next_retry_at=retry_at,
        ))
        # Scheduled last, with no await after it: a retry that fell due while the run was
        # still being recorded would otherwise be skipped as an overlap (and lost).
        self._schedule(job, retry_at)
        return JobOutcome(ResultStatus.ERROR, error)

    async def _finish(
        self,
        run_id: int | None,
        run: JobRun,
        t0: float,
        status: JobStatus,
        result: ResultStatus | None = None,
        message: str = "",
        *,
        error: str | None = None,
        data: dict[str, Any] | None = None,
        next_retry_at: datetime | None = None,
    ) -> float:
        duration_ms = (time.monotonic() - t0) * 1000.0
        final = replace(
            run, id=run_id, status=status, completed_at=self._clock(), duration_ms=duration_ms,
            result_status=result, message=message, error=error, data=data or {},
            next_retry_at=next_retry_at,
        )
        if run_id is not None:
            try:
                await asyncio.to_thread(self._recorder.finished, run_id, final)
            except Exception as exc:
                log.warning("job.record_failed", phase="finished", error=_describe(exc))
        return duration_ms

    async def _record_started(self, run: JobRun) -> int | None:
        insert = asyncio.ensure_future(asyncio.to_thread(self._recorder.started, run))
        try:
            return await asyncio.shield(insert)
        except asyncio.CancelledError:  # stopping: the insert completes anyway; close its row
            with contextlib.suppress(Exception):
                run_id = await insert
                t0 = time.monotonic()
                await self._finish(run_id, run, t0, JobStatus.CANCELLED, None, "cancelled")
            raise
        except Exception as exc:
            log.warning("job.record_failed", phase="started", job=run.job_name,
                        error=_describe(exc))
            return None

    # -- bookkeeping -------------------------------------------------------------------

    def _timed(self, job: _Job, duration_ms: float) -> float:
        """Record a finished run's duration in its kind's histogram; returns it."""
        _histogram(self._durations, job.spec.kind, DURATION_BUCKETS).observe(duration_ms / 1000)
        return duration_ms

    def _add(self, spec: JobSpec, now: datetime) -> None:
        job = _Job(spec)
        self._jobs[spec.name] = job
        self._schedule(job, triggers.first_run(spec.settings, now, **self._jitter_for(job)))

    def _schedule(self, job: _Job, due: datetime | None) -> None:
        job.version += 1
        job.next_run = due
        if due is not None:
            self._push(job, due, manual=False)

    def _push(self, job: _Job, due: datetime, *, manual: bool) -> None:
        entry = _Entry(due, -job.spec.priority, next(self._seq), job, job.version, manual)
        heapq.heappush(self._heap, entry)
        self._wakeup.set()

    def _jitter_for(self, job: _Job) -> dict[str, Any]:
        """At most one interval: a heartbeat must not be jittered past its lease TTL."""
        interval = job.spec.settings.interval
        jitter = self._jitter if interval is None else min(self._jitter, interval)
        return {"key": job.spec.name, "jitter": jitter}

    def _job(self, name: str) -> _Job:
        try:
            return self._jobs[name]
        except KeyError:
            raise NotFound(f"no job named {name!r}") from None

    def _state(self, job: _Job) -> JobState:
        return JobState(
            name=job.spec.name, kind=job.spec.kind, target=job.spec.target,
            next_run=job.next_run, running=job.running, last_status=job.last_status,
            last_result=job.last_result, last_started=job.last_started,
            last_duration_ms=job.last_duration_ms, last_error=job.last_error,
            consecutive_failures=job.consecutive_failures,
            unhealthy=job.consecutive_failures >= self._max_failures,
            skipped_overlaps=job.skipped_overlaps, runs=job.runs, failures=job.failures,
        )


def _histogram(by_kind: dict[str, Histogram], kind: str, bounds: tuple[float, ...]) -> Histogram:
    found = by_kind.get(kind)
    if found is None:
        found = by_kind[kind] = Histogram(bounds)
    return found


def _describe(exc: BaseException) -> str:
    return redaction.redact(f"{type(exc).__name__}: {exc}")

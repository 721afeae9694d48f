"""The check runner: runs every (check, target) task on its own schedule.

Checks get their own small loop rather than one scheduler job each: a check every second
must cost little more than the query itself, and a `job_runs` row per execution would cost
more than the query (the `checks` job reports on the runner instead, see `jobs/checks.py`).
Same rules as the scheduler: a heap of due times (`scheduling.triggers`, deterministic
jitter), a task still running when it is due again is skipped and counted, never stacked,
at most `max_parallel` statements at once. Connection failures are retried with backoff
within a run (stamina) and then across runs per target (`RetryPolicy`): while a target is
backing off its checks report `error` without connecting. SQL errors are not retried.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import stamina
import structlog

from planwatch.checks import drivers, evaluation
from planwatch.checks.drivers.base import CheckFailed, Driver, Unreachable
from planwatch.checks.exported import ExportedMetrics
from planwatch.checks.http import HttpProbe
from planwatch.checks.plan import Task, tasks
from planwatch.clock import utcnow
from planwatch.config.settings import Settings, TargetSettings
from planwatch.histogram import DURATION_BUCKETS, LAG_BUCKETS, Histogram
from planwatch.model.checks import CheckResult, CheckStatus, Evaluation, Labels
from planwatch.scheduling import triggers
from planwatch.scheduling.backoff import RetryPolicy

log = structlog.stdlib.get_logger(__name__)

MAX_SLEEP = 0.5  # seconds; the loop looks at the stop event at least this often
MIN_TICK = 0.01  # seconds between two passes of the loop
LAG_WINDOW_S = 60.0  # schedule lag quantiles cover this many recent seconds
RECONNECT = RetryPolicy(initial=timedelta(seconds=1), multiplier=2.0, max=timedelta(seconds=60))
RETRY_ATTEMPTS = 3  # connection attempts within one run


@dataclass
class TargetHealth:
    """Connection state of one target, shared by all its checks."""

    failures: int = 0
    retry_at: datetime | None = None
    last_error: str = ""

    def failed(self, error: str, now: datetime, policy: RetryPolicy) -> None:
        self.failures += 1
        self.last_error = error
        self.retry_at = now + policy.delay(self.failures)

    def succeeded(self) -> None:
        self.failures, self.retry_at, self.last_error = 0, None, ""


@dataclass
class CheckStats:
    """Live counters and last outcome of one task, for /metrics and the `checks` job."""

    check: str
    target: str
    runs: int = 0
    skips: int = 0
    errors: int = 0
    last_status: CheckStatus | None = None
    last_at: datetime | None = None
    last_duration_ms: float | None = None
    values: dict[Labels, tuple[float | None, CheckStatus]] = field(default_factory=dict)
    durations: Histogram = field(default_factory=lambda: Histogram(DURATION_BUCKETS))


class CheckRunner:
    """Owns the check tasks, their drivers (connection pools) and their live stats."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        reconnect: RetryPolicy = RECONNECT,
    ) -> None:
        self._clock = clock
        self._reconnect = reconnect
        self._max_parallel = settings.scheduling.max_parallel_checks
        self._executor = ThreadPoolExecutor(self._max_parallel, "planwatch-checks")
        self._semaphore = asyncio.Semaphore(self._max_parallel)
        self._http = HttpProbe()
        self._drivers: dict[str, Driver] = {}
        self._health: dict[str, TargetHealth] = {}
        self._stats: dict[str, CheckStats] = {}
        self._running: dict[str, asyncio.Task[list[CheckResult]]] = {}
        self._heap: list[tuple[datetime, int, str, int]] = []  # due, seq, key, version
        self._versions: dict[str, int] = {}
        self._seq = itertools.count()
        self._buffer: list[CheckResult] = []
        self._lag: deque[tuple[float, float]] = deque(maxlen=100_000)  # (monotonic, lag)
        self.lag = Histogram(LAG_BUCKETS)
        self.exported = ExportedMetrics()
        self._jitter = settings.scheduling.jitter
        self._targets: dict[str, TargetSettings] = {}
        self._tasks: dict[str, Task] = {}
        self.gate: Callable[[Task], bool] | None = None
        """Fleet mode: a task runs only where its lease is held (jobs/checks.py)."""
        self.configure(settings)

    # -- configuration -------------------------------------------------------------------

    def configure(self, settings: Settings) -> None:
        """(Re)load checks and targets; tasks that survive keep their stats and schedule."""
        old_targets = self._targets
        self._targets = {t.name: t for t in settings.targets}
        for name in [n for n, t in old_targets.items() if self._targets.get(n) != t]:
            self._drop_driver(name)
        new = {t.key: t for t in tasks(settings.checks, settings.targets)}
        now = self._clock()
        for key, task in new.items():
            old = self._tasks.get(key)
            self._stats.setdefault(key, CheckStats(task.name, task.target))
            if old is None or old.schedule != task.schedule:
                self._versions[key] = next(self._seq)  # unique: stale entries never match
                first = triggers.first_run(task.schedule, now, task.key, self._spread(task))
                self._push(task, first)
        for key in set(self._stats) - set(new):
            del self._stats[key]
            self._versions.pop(key, None)
        self._tasks = new
        self.exported.configure(new.values())

    @property
    def keys(self) -> list[str]:
        return list(self._tasks)

    # -- running -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Start due tasks until `stop` is set, then wait briefly for running ones."""
        log.info("checks.started", tasks=len(self._tasks), max_parallel=self._max_parallel)
        try:
            while not stop.is_set():
                now = self._clock()
                self._start_due(now)
                await asyncio.sleep(self._sleep_for(now))  # cheaper than waiting on `stop`
        finally:
            running = list(self._running.values())
            for t in running:
                t.cancel()
            if running:
                await asyncio.wait(running, timeout=5.0)
            log.info("checks.stopped")

    async def run_now(self, key: str) -> list[CheckResult]:
        """Run one task now (outside its schedule) and return its results."""
        task = self._tasks[key]
        return await self._run(task, self._clock())

    def drain(self) -> list[CheckResult]:
        """Results produced since the last call, oldest first (for storage and alerts)."""
        out, self._buffer = self._buffer, []
        return out

    def requeue(self, results: list[CheckResult], limit: int = 100_000) -> None:
        """Put results whose storage failed back in front, keeping at most `limit`."""
        self._buffer = (results + self._buffer)[-limit:]

    def stats(self) -> list[CheckStats]:
        return list(self._stats.values())

    def schedule_lag(self, quantile: float) -> float:
        """A quantile (0..1) of the delays between due time and start over the last
        `LAG_WINDOW_S` seconds (0 when nothing ran)."""
        horizon = time.monotonic() - LAG_WINDOW_S
        # list() copies the deque in one step: /metrics may call this from another thread
        ordered = sorted(lag for at, lag in list(self._lag) if at >= horizon)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]

    async def aclose(self) -> None:
        for name in list(self._drivers):
            await self._drivers.pop(name).aclose()
        await self._http.aclose()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- the loop ------------------------------------------------------------------------

    def _start_due(self, now: datetime) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, key, version = heapq.heappop(heap)
            task = self._tasks.get(key)
            if task is None or version != self._versions.get(key):
                continue  # removed or rescheduled by a reload
            nxt = triggers.next_due(task.schedule, due, now, key=key, jitter=self._spread(task))
            self._push(task, nxt)
            if self.gate is not None and not self.gate(task):
                continue  # another worker holds its target or endpoint
            if key in self._running:
                self._stats[key].skips += 1
                log.info("check.skipped", check=task.name, target=task.target,
                         reason="still running")
                continue
            self._running[key] = asyncio.create_task(self._guarded(task, due))

    async def _guarded(self, task: Task, due: datetime) -> list[CheckResult]:
        """One scheduled run; it leaves `_running` itself (no done-callback round trip)."""
        try:
            return await self._run(task, due)
        except Exception as exc:
            log.error("check.crashed", task=task.key, error=f"{type(exc).__name__}: {exc}")
            return []
        finally:
            self._running.pop(task.key, None)

    def _sleep_for(self, now: datetime) -> float:
        """Until the next due time, but at least `MIN_TICK`: checks due within one tick
        start together (at most that much later), so 200 checks spread over a second cost
        100 loop passes, not 200."""
        if not self._heap:
            return MAX_SLEEP
        return min(max((self._heap[0][0] - now).total_seconds(), MIN_TICK), MAX_SLEEP)

    def _push(self, task: Task, due: datetime | None) -> None:
        if due is not None:
            entry = (due, next(self._seq), task.key, self._versions.get(task.key, 0))
            heapq.heappush(self._heap, entry)

    def _spread(self, task: Task) -> timedelta:
        """Deterministic jitter, at most one interval, so equal checks do not fire at once."""
        if task.schedule.interval is not None:
            return min(self._jitter, task.schedule.interval)
        return self._jitter

    # -- one run -------------------------------------------------------------------------

    async def _run(self, task: Task, due: datetime) -> list[CheckResult]:
        async with self._semaphore:
            started = self._clock()
            lag = max(0.0, (started - due).total_seconds())
            self._lag.append((time.monotonic(), lag))
            self.lag.observe(lag)
            t0 = time.perf_counter()
            evaluations = await self._evaluate(task, started)
            duration_ms = (time.perf_counter() - t0) * 1000.0
        results = [
            CheckResult(task.name, task.target, e.status, e.message, started, duration_ms,
                        e.value, e.value_text, e.labels)
            for e in evaluations
        ]
        self._record(task, results, duration_ms)
        return results

    async def _evaluate(self, task: Task, now: datetime) -> list[Evaluation]:
        check = task.check
        if check.kind == "http":
            return [await self._http.run(check, task.judgement, now)]
        health = self._health.setdefault(task.target, TargetHealth())
        if health.retry_at is not None and now < health.retry_at:
            wait = (health.retry_at - now).total_seconds()
            return [evaluation.error(f"target unreachable (next attempt in {wait:.0f}s): "
                                     f"{health.last_error}")]
        timeout = check.timeout.total_seconds()
        t0 = time.perf_counter()
        try:
            raw = await self._query(task, timeout)
        except Unreachable as exc:
            health.failed(str(exc), self._clock(), self._reconnect)
            return [evaluation.error(f"target unreachable: {exc}")]
        except CheckFailed as exc:
            return [evaluation.error(str(exc))]
        health.succeeded()
        duration_ms = (time.perf_counter() - t0) * 1000.0
        if check.metrics:
            self.exported.record(task, raw)
        return evaluation.evaluate(task.shape, task.judgement, raw, duration_ms)

    async def _query(self, task: Task, limit_s: float) -> evaluation.RawResult:
        """Run the statement; a connection failure is retried with backoff (stamina) —
        entered only after a first failure, so a healthy run pays nothing for it."""
        driver = self._driver(task.target)
        try:
            return await driver.run(task.check.sql, limit_s)
        except Unreachable:
            log.info("check.reconnecting", check=task.name, target=task.target)
        async for attempt in stamina.retry_context(
            on=Unreachable, attempts=RETRY_ATTEMPTS - 1, timeout=limit_s, wait_initial=0.05,
            wait_max=1.0,
        ):
            with attempt:
                return await driver.run(task.check.sql, limit_s)
        raise AssertionError("unreachable: stamina re-raises the last failure")

    def _driver(self, target: str) -> Driver:
        driver = self._drivers.get(target)
        if driver is None:
            settings = self._targets[target]
            driver = drivers.create(settings, self._executor, self._max_parallel)
            self._drivers[target] = driver
        return driver

    def _drop_driver(self, target: str) -> None:
        driver = self._drivers.pop(target, None)
        self._health.pop(target, None)
        if driver is not None:
            closing = asyncio.ensure_future(driver.aclose())
            closing.add_done_callback(_consume)

    def _record(self, task: Task, results: list[CheckResult], duration_ms: float) -> None:
        stats = self._stats.get(task.key)
        if stats is None:
            return  # removed by a reload while running
        stats.runs += 1
        stats.last_at, stats.last_duration_ms = results[0].executed_at, duration_ms
        stats.durations.observe(duration_ms / 1000.0)
        stats.last_status = max((r.status for r in results), key=lambda s: s.rank)
        stats.errors += stats.last_status is CheckStatus.ERROR
        stats.values = {r.labels: (r.value, r.status) for r in results}
        self._buffer.extend(results)


def _consume(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.warning("checks.close_failed", error=str(exc))

"""The scheduler with real asyncio tasks, short real durations and, where it helps, a
hand-driven clock. Assertions count and order things; none measure time."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from planwatch.config.settings import JobSettings
from planwatch.errors import NotFound
from planwatch.model.jobs import JobRun, JobStatus, ResultStatus
from planwatch.scheduling.backoff import RetryPolicy
from planwatch.scheduling.runner import JobContext, JobOutcome, JobSpec, JobState, Scheduler

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FAST = JobSettings(interval=timedelta(milliseconds=10))
HOURLY = JobSettings(interval=timedelta(hours=1))
QUICK_RETRY = RetryPolicy(timedelta(milliseconds=5), 2.0, timedelta(milliseconds=20))
SLOW_RETRY = RetryPolicy(timedelta(seconds=30), 2.0, timedelta(minutes=10))


class MemoryRecorder:
    """An in-memory JobRecorder; `broken` makes it behave like a storage outage."""

    def __init__(self, broken: str = "") -> None:
        self.runs: dict[int, JobRun] = {}
        self.broken = broken  # "", "started" or "finished"
        self._lock = threading.Lock()

    def started(self, run: JobRun) -> int:
        if self.broken == "started":
            raise ConnectionError("storage down: postgresql://pw:hunter2@db/planwatch")
        with self._lock:
            run_id = len(self.runs) + 1
            self.runs[run_id] = replace(run, id=run_id)
            return run_id

    def finished(self, run_id: int, run: JobRun) -> None:
        if self.broken == "finished":
            raise ConnectionError("storage down")
        with self._lock:
            self.runs[run_id] = run

    def with_status(self, status: JobStatus) -> list[JobRun]:
        with self._lock:
            return [r for r in self.runs.values() if r.status is status]


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def wait_until(condition: Callable[[], bool], limit: float = 5.0) -> None:
    """Poll until `condition` holds; a bound against hangs, not a timing assertion."""
    async with asyncio.timeout(limit):
        while not condition():  # noqa: ASYNC110 - polls plain state, not an event
            await asyncio.sleep(0.005)


def spec(
    name: str,
    func: Callable[[JobContext], Awaitable[JobOutcome]],
    settings: JobSettings = FAST,
    **kw: object,
) -> JobSpec:
    return JobSpec(kind="test", name=name, settings=settings, func=func, **kw)  # type: ignore[arg-type]


def scheduler(specs: Iterable[JobSpec], recorder: MemoryRecorder, **kw: object) -> Scheduler:
    options: dict[str, object] = {
        "retry": QUICK_RETRY, "max_consecutive_failures": 3, "worker_id": "w1", "max_sleep": 0.02,
    }
    options.update(kw)
    return Scheduler(specs, recorder=recorder, **options)  # type: ignore[arg-type]


@asynccontextmanager
async def running(sched: Scheduler) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(sched.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def ok(ctx: JobContext) -> JobOutcome:
    return JobOutcome(message="fine", data={"attempt": ctx.attempt})


async def boom(ctx: JobContext) -> JobOutcome:
    raise RuntimeError("boom")


def _has_failed(sched: Scheduler, count: int) -> bool:
    current = state(sched)
    return current.failures == count and not current.running


def state(sched: Scheduler, name: str = "job") -> JobState:
    return next(s for s in sched.states() if s.name == name)


async def test_runs_a_job_repeatedly_and_records_each_run() -> None:
    recorder = MemoryRecorder()
    sched = scheduler([spec("job", ok, target="db1")], recorder)
    async with running(sched):
        await wait_until(lambda: len(recorder.with_status(JobStatus.COMPLETED)) >= 3)
    done = recorder.with_status(JobStatus.COMPLETED)
    assert all(r.result_status is ResultStatus.HEALTHY for r in done)
    assert {(r.job_name, r.job_type, r.worker_id, r.target) for r in done} == {
        ("job", "test", "w1", "db1")
    }
    assert all(r.message == "fine" and r.data == {"attempt": 0} for r in done)
    assert all(r.duration_ms is not None and r.completed_at is not None for r in done)
    assert state(sched).runs >= 3 and state(sched).failures == 0
    assert len(sched.schedule_lag_seconds) >= 3
    assert sched.schedule_lag_p99() >= sched.schedule_lag(0.5) >= 0.0
    durations, lags = sched.duration_histograms()["test"], sched.lag_histograms()["test"]
    assert durations.count == len(done)  # one observation per finished run, by job kind
    assert durations.total == pytest.approx(sum(r.duration_ms or 0 for r in done) / 1000)
    assert lags.count == state(sched).runs


async def test_failure_backs_off_by_the_policy_and_flags_unhealthy() -> None:
    recorder, clock = MemoryRecorder(), Clock()
    sched = scheduler([spec("job", boom, HOURLY)], recorder, retry=SLOW_RETRY, clock=clock)
    async with running(sched):
        for failures, delay in enumerate((30, 60, 120), start=1):
            await wait_until(partial(_has_failed, sched, failures))
            assert state(sched).next_run == T0 + timedelta(seconds=delay)
            assert state(sched).unhealthy is (failures >= 3)
            sched.trigger("job")  # the clock stands still: retry by hand
        await wait_until(lambda: state(sched).failures == 4)
    first = recorder.runs[1]
    assert first.status is JobStatus.FAILED and first.result_status is ResultStatus.ERROR
    assert first.error == "RuntimeError: boom"
    assert first.next_retry_at == T0 + timedelta(seconds=30)
    assert [recorder.runs[i].retry_count for i in (1, 2, 3, 4)] == [0, 1, 2, 3]
    assert state(sched).consecutive_failures == 4 and state(sched).unhealthy
    assert state(sched).last_error == "RuntimeError: boom"


async def test_unhealthy_job_keeps_being_retried_then_recovers() -> None:
    recorder = MemoryRecorder()
    attempts: list[int] = []

    async def flaky(ctx: JobContext) -> JobOutcome:
        attempts.append(ctx.attempt)
        if len(attempts) <= 4:
            raise ConnectionError("target down")
        return JobOutcome()

    sched = scheduler([spec("job", flaky, HOURLY)], recorder)
    async with running(sched):
        await wait_until(lambda: len(recorder.with_status(JobStatus.COMPLETED)) == 1)
    assert attempts == [0, 1, 2, 3, 4]
    after = state(sched)
    assert after.consecutive_failures == 0 and not after.unhealthy and after.failures == 4
    assert after.next_run is not None and after.last_started is not None
    assert after.next_run - after.last_started > timedelta(minutes=59)  # normal trigger again


async def test_a_timeout_is_a_failure() -> None:
    recorder = MemoryRecorder()

    async def hang(ctx: JobContext) -> JobOutcome:
        await asyncio.Event().wait()
        return JobOutcome()

    sched = scheduler([spec("job", hang, HOURLY, timeout=timedelta(milliseconds=20))], recorder)
    async with running(sched):
        await wait_until(lambda: len(recorder.with_status(JobStatus.FAILED)) >= 1)
    failed = recorder.with_status(JobStatus.FAILED)[0]
    assert failed.error is not None and failed.error.startswith("TimeoutError: job exceeded")


async def test_a_running_job_is_skipped_not_stacked() -> None:
    recorder, release = MemoryRecorder(), asyncio.Event()
    in_flight, peak = 0, 0

    async def slow(ctx: JobContext) -> JobOutcome:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await release.wait()
        in_flight -= 1
        return JobOutcome()

    sched = scheduler([spec("job", slow)], recorder)
    async with running(sched):
        await wait_until(lambda: in_flight == 1 and state(sched).skipped_overlaps >= 3)
        assert len(recorder.runs) == 1 and state(sched).running
        release.set()
        await wait_until(lambda: len(recorder.with_status(JobStatus.COMPLETED)) >= 2)
    assert peak == 1


async def test_a_group_semaphore_bounds_parallel_runs() -> None:
    recorder = MemoryRecorder()
    in_flight, peak, finished = 0, 0, 0

    async def work(ctx: JobContext) -> JobOutcome:
        nonlocal in_flight, peak, finished
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        finished += 1
        return JobOutcome()

    specs = [spec(f"collection:t{i}", work, group="targets") for i in range(6)]
    sched = scheduler(specs, recorder, group_limits={"targets": 2})
    async with running(sched):
        await wait_until(lambda: finished >= 12)
    assert peak == 2


async def test_higher_priority_starts_first_when_due_together() -> None:
    recorder, clock, order = MemoryRecorder(), Clock(), []

    def job(name: str) -> Callable[[JobContext], Awaitable[JobOutcome]]:
        async def run(ctx: JobContext) -> JobOutcome:
            order.append(name)
            return JobOutcome()

        return run

    specs = [
        spec("low", job("low"), HOURLY, group="g", priority=0),
        spec("high", job("high"), HOURLY, group="g", priority=10),
    ]
    sched = scheduler(specs, recorder, clock=clock, group_limits={"g": 1})
    async with running(sched):
        await wait_until(lambda: len(order) == 2)
    assert order == ["high", "low"]
    assert {r.priority for r in recorder.runs.values()} == {0, 10}


async def test_missed_runs_coalesce_into_one() -> None:
    recorder, clock = MemoryRecorder(), Clock()
    every_minute = JobSettings(interval=timedelta(minutes=1))
    sched = scheduler([spec("job", ok, every_minute)], recorder, clock=clock)
    async with running(sched):
        await wait_until(lambda: state(sched).runs == 1 and not state(sched).running)
        clock.now = T0 + timedelta(minutes=10, seconds=30)  # the machine slept
        await wait_until(lambda: state(sched).runs == 2)
        assert state(sched).next_run == T0 + timedelta(minutes=11)
        await wait_until(lambda: len(recorder.with_status(JobStatus.COMPLETED)) == 2)
    assert state(sched).runs == 2
    assert state(sched).skipped_overlaps == 0  # coalesced, not skipped one by one


async def test_stop_cancels_in_flight_runs_and_records_them() -> None:
    recorder, entered, saw_cancel = MemoryRecorder(), asyncio.Event(), asyncio.Event()

    async def forever(ctx: JobContext) -> JobOutcome:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            saw_cancel.set()
            raise
        return JobOutcome()

    sched = scheduler([spec("job", forever, HOURLY)], recorder)
    async with running(sched):
        await asyncio.wait_for(entered.wait(), 5)
    assert saw_cancel.is_set()
    [run] = recorder.runs.values()
    assert run.status is JobStatus.CANCELLED and run.completed_at is not None
    assert not state(sched).running and state(sched).failures == 0


async def test_stop_is_bounded_when_a_job_ignores_cancellation() -> None:
    recorder, entered, done = MemoryRecorder(), asyncio.Event(), asyncio.Event()

    async def stubborn(ctx: JobContext) -> JobOutcome:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await done.wait()  # keeps running after cancellation
        return JobOutcome()

    sched = scheduler([spec("job", stubborn, HOURLY)], recorder, stop_timeout=0.05)
    async with running(sched):
        await asyncio.wait_for(entered.wait(), 5)
    assert state(sched).running  # run() returned although the job is still going
    done.set()
    await wait_until(lambda: not state(sched).running)


@pytest.mark.parametrize("broken", ["started", "finished"])
async def test_a_broken_recorder_never_stops_jobs(broken: str) -> None:
    recorder, run_ids = MemoryRecorder(broken=broken), []

    async def job(ctx: JobContext) -> JobOutcome:
        run_ids.append(ctx.run_id)
        return JobOutcome()

    sched = scheduler([spec("job", job)], recorder)
    async with running(sched):
        await wait_until(lambda: len(run_ids) >= 3)
    assert state(sched).failures == 0
    if broken == "started":
        assert set(run_ids) == {None} and recorder.runs == {}
    else:
        assert None not in run_ids
        assert recorder.with_status(JobStatus.COMPLETED) == []


async def test_run_once_records_and_returns_the_outcome() -> None:
    recorder = MemoryRecorder()
    sched = scheduler([spec("good", ok, HOURLY), spec("bad", boom, HOURLY)], recorder)
    good = await sched.run_once("good")
    bad = await sched.run_once("bad")
    assert good.message == "fine"
    assert bad.result_status is ResultStatus.ERROR and bad.message == "RuntimeError: boom"
    assert [r.status for r in recorder.runs.values()] == [JobStatus.COMPLETED, JobStatus.FAILED]
    with pytest.raises(NotFound):
        await sched.run_once("missing")


async def test_replace_specs_keeps_state_of_surviving_jobs() -> None:
    recorder, clock = MemoryRecorder(), Clock()
    sched = scheduler(
        [spec("a", boom, HOURLY), spec("gone", ok, HOURLY)], recorder, clock=clock, retry=SLOW_RETRY
    )
    await sched.run_once("a")
    before = state(sched, "a")
    assert before.consecutive_failures == 1 and before.next_run == T0 + timedelta(seconds=30)

    sched.replace_specs([spec("a", ok, HOURLY), spec("new", ok, HOURLY)])
    assert [s.name for s in sched.states()] == ["a", "new"]
    assert state(sched, "a") == before
    assert (await sched.run_once("a")).message == "fine"  # the new function is used

    clock.now = T0 + timedelta(minutes=1)
    sched.replace_specs([spec("a", ok, JobSettings(interval=timedelta(minutes=2)))])
    assert state(sched, "a").next_run == T0 + timedelta(minutes=3)
    assert state(sched, "a").runs == 2


async def test_trigger_runs_a_disabled_job_and_rejects_unknown_names() -> None:
    recorder = MemoryRecorder()
    sched = scheduler([spec("job", ok, JobSettings(enabled=False))], recorder)
    assert state(sched).next_run is None
    with pytest.raises(NotFound):
        sched.trigger("missing")
    async with running(sched):
        sched.trigger("job")
        await wait_until(lambda: len(recorder.with_status(JobStatus.COMPLETED)) == 1)
    assert state(sched).next_run is None and sched.last_tick is not None


async def test_a_retry_replaces_the_normal_run_instead_of_adding_one() -> None:
    recorder, clock, calls = MemoryRecorder(), Clock(), []

    async def fails_once(ctx: JobContext) -> JobOutcome:
        calls.append(ctx.attempt)
        if len(calls) == 1:
            raise ConnectionError("down")
        return JobOutcome()

    marker = JobSettings(interval=timedelta(hours=1), startup_delay=timedelta(hours=1, seconds=1))
    specs = [spec("job", fails_once, HOURLY), spec("marker", ok, marker)]
    sched = scheduler(specs, recorder, clock=clock, retry=SLOW_RETRY)
    async with running(sched):
        await wait_until(partial(_has_failed, sched, 1))
        clock.now = T0 + timedelta(hours=1, seconds=2)  # past the retry, the old slot, the marker
        await wait_until(lambda: state(sched, "marker").runs == 1)
        await wait_until(lambda: len(recorder.with_status(JobStatus.COMPLETED)) == 2)
    assert calls == [0, 1]
    assert state(sched).skipped_overlaps == 0
    assert state(sched).next_run == T0 + timedelta(hours=1, seconds=30)  # retry + interval


class GatedRecorder(MemoryRecorder):
    """Its `started` blocks until the test opens the gate (a slow storage insert)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.gate = threading.Event(), threading.Event()

    def started(self, run: JobRun) -> int:
        self.entered.set()
        self.gate.wait(10)
        return super().started(run)


async def test_a_run_cancelled_while_being_recorded_is_closed_as_cancelled() -> None:
    recorder, called = GatedRecorder(), []

    async def job(ctx: JobContext) -> JobOutcome:
        called.append(1)
        return JobOutcome()

    sched = scheduler([spec("job", job, HOURLY)], recorder)
    stop = asyncio.Event()
    runner = asyncio.create_task(sched.run(stop))
    await wait_until(recorder.entered.is_set)
    [task] = [t for t in asyncio.all_tasks() if t.get_name() == "job:job"]
    stop.set()
    await wait_until(lambda: task.cancelling() > 0)
    recorder.gate.set()
    await asyncio.wait_for(runner, 10)
    assert called == []
    assert [r.status for r in recorder.runs.values()] == [JobStatus.CANCELLED]


async def test_a_job_removed_by_a_reload_does_not_run() -> None:
    recorder, clock, ran = MemoryRecorder(), Clock(), []

    async def job(ctx: JobContext) -> JobOutcome:
        ran.append(ctx.spec.name)
        return JobOutcome()

    later = JobSettings(interval=timedelta(hours=1), startup_delay=timedelta(minutes=1))
    last = JobSettings(interval=timedelta(hours=1), startup_delay=timedelta(minutes=2))
    marker = spec("marker", job, last)
    sched = scheduler([spec("removed", job, later), marker], recorder, clock=clock)
    async with running(sched):
        sched.replace_specs([marker])
        clock.now = T0 + timedelta(minutes=3)
        await wait_until(lambda: "marker" in ran)
        # Both would have been started in the same pass: no task, no call for "removed".
        assert "job:removed" not in {t.get_name() for t in asyncio.all_tasks()}
    assert ran == ["marker"]


async def test_jitter_never_delays_an_interval_job_past_its_interval() -> None:
    """The heartbeat must run within its lease TTL even when polls are spread over an hour."""
    recorder = MemoryRecorder()
    every = JobSettings(interval=timedelta(milliseconds=200))
    sched = scheduler([spec("heartbeat", ok, settings=every)], recorder,
                      jitter=timedelta(hours=1))  # the key's own offset would be 48 minutes
    async with running(sched):
        await wait_until(lambda: len(recorder.with_status(JobStatus.COMPLETED)) >= 2)

"""Real signals sent to this process while an event loop runs."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta

import pytest

from planwatch.config.settings import JobSettings
from planwatch.model.jobs import JobRun
from planwatch.scheduling.backoff import RetryPolicy
from planwatch.scheduling.runner import JobContext, JobOutcome, JobSpec, Scheduler
from planwatch.scheduling.signals import SignalRelay, handle_signals


async def _wait(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), 5)


async def test_sigterm_asks_to_stop_and_previous_handlers_come_back() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    stop = asyncio.Event()
    with handle_signals(asyncio.get_running_loop(), on_stop=stop.set, on_reload=lambda: None):
        os.kill(os.getpid(), signal.SIGTERM)
        await _wait(stop)
    assert {sig: signal.getsignal(sig) for sig in before} == before


async def test_sighup_reloads_without_stopping() -> None:
    stop, reloaded = asyncio.Event(), asyncio.Event()
    with handle_signals(asyncio.get_running_loop(), on_stop=stop.set, on_reload=reloaded.set):
        os.kill(os.getpid(), signal.SIGHUP)
        await _wait(reloaded)
    assert not stop.is_set()


async def test_a_second_stop_signal_forces_the_exit() -> None:
    stopped, forced, stops = asyncio.Event(), asyncio.Event(), []

    def on_stop() -> None:
        stops.append(1)
        stopped.set()

    with handle_signals(asyncio.get_running_loop(), on_stop=on_stop, on_force=forced.set):
        os.kill(os.getpid(), signal.SIGINT)
        await _wait(stopped)
        os.kill(os.getpid(), signal.SIGTERM)
        await _wait(forced)
    assert stops == [1]


def test_without_a_force_callback_the_second_signal_interrupts() -> None:
    relay = SignalRelay(on_stop=lambda: None)
    relay(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        relay(signal.SIGTERM)


class _NullRecorder:
    def started(self, run: JobRun) -> int:
        return 1

    def finished(self, run_id: int, run: JobRun) -> None:
        return None


async def test_sigterm_stops_a_running_scheduler() -> None:
    started = asyncio.Event()

    async def forever(ctx: JobContext) -> JobOutcome:
        started.set()
        await asyncio.Event().wait()
        return JobOutcome()

    spec = JobSpec(
        kind="t", name="t", settings=JobSettings(interval=timedelta(hours=1)), func=forever
    )
    sched = Scheduler(
        [spec], recorder=_NullRecorder(), retry=RetryPolicy(), max_consecutive_failures=3,
        worker_id="w",
    )
    stop = asyncio.Event()
    with handle_signals(asyncio.get_running_loop(), on_stop=stop.set):
        task = asyncio.create_task(sched.run(stop))
        await _wait(started)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(task, 10)
    assert not sched.states()[0].running

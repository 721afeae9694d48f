"""This worker's own resource use and work, snapshotted into worker_metrics by the heartbeat."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import psutil

from planwatch.model.jobs import WorkerMetrics
from planwatch.scheduling.runner import JobState

EVERY = timedelta(minutes=1)


class SelfStats:
    """Reads psutil and the scheduler's counters; call `due`/`snapshot` on the event loop."""

    def __init__(
        self, worker_id: str, states: Callable[[], Sequence[JobState]],
        lag_p99_s: Callable[[], float], every: timedelta = EVERY,
    ) -> None:
        self.worker_id, self._states, self._lag, self.every = worker_id, states, lag_p99_s, every
        self._proc = psutil.Process()
        self._proc.cpu_percent(None)  # primes the counter: the next call measures since now
        self._last: datetime | None = None

    def due(self, now: datetime) -> bool:
        return self._last is None or now - self._last >= self.every

    def snapshot(self, now: datetime) -> WorkerMetrics:
        self._last = now
        states = self._states()
        with self._proc.oneshot():
            cpu = self._proc.cpu_percent(None)
            rss = self._proc.memory_info().rss
            threads = self._proc.num_threads()
        return WorkerMetrics(
            worker_id=self.worker_id, at=now, cpu_percent=cpu, memory_rss_bytes=rss,
            jobs_run=sum(s.runs for s in states), errors=sum(s.failures for s in states),
            schedule_lag_ms=self._lag() * 1000.0,
            data={"threads": threads, "running_jobs": sum(1 for s in states if s.running),
                  "skipped_overlaps": sum(s.skipped_overlaps for s in states)},
        )

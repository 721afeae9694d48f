"""What the scheduler runs and reports: job specs, run contexts, outcomes, state snapshots."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from planwatch.config.settings import JobSettings
from planwatch.model.jobs import JobRun, JobStatus, ResultStatus


@dataclass(frozen=True, slots=True)
class JobOutcome:
    result_status: ResultStatus = ResultStatus.HEALTHY
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobContext:
    run_id: int | None  # None when the recorder (storage) was unavailable
    spec: JobSpec
    scheduled_at: datetime
    attempt: int  # consecutive failures before this run
    log: structlog.stdlib.BoundLogger  # bound with run_id, job and target


@dataclass(frozen=True, slots=True)
class JobSpec:
    kind: str
    name: str
    settings: JobSettings
    func: Callable[[JobContext], Awaitable[JobOutcome]]
    target: str | None = None
    group: str | None = None
    timeout: timedelta | None = None
    priority: int = 0
    # Asked before each run; False skips it unrecorded (fleet mode: another worker owns it).
    gate: Callable[[], Awaitable[bool]] | None = None


class JobRecorder(Protocol):
    """Persists job runs (blocking; the scheduler calls it through `asyncio.to_thread`)."""

    def started(self, run: JobRun) -> int: ...

    def finished(self, run_id: int, run: JobRun) -> None: ...


@dataclass(frozen=True, slots=True)
class JobState:
    """A snapshot of one job for health checks, metrics and the API."""

    name: str
    kind: str
    target: str | None
    next_run: datetime | None
    running: bool
    last_status: JobStatus | None
    last_result: ResultStatus | None
    last_started: datetime | None
    last_duration_ms: float | None
    last_error: str | None
    consecutive_failures: int
    unhealthy: bool
    skipped_overlaps: int
    runs: int
    failures: int

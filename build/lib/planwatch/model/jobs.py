"""Workers, job runs and their statuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class WorkerStatus(StrEnum):
    STARTING = "Starting"
    RUNNING = "Running"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    DEAD = "Dead"


class JobStatus(StrEnum):
    QUEUED = "Queued"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class ResultStatus(StrEnum):
    HEALTHY = "Healthy"
    WARNING = "Warning"
    CRITICAL = "Critical"
    ERROR = "Error"


@dataclass(frozen=True, slots=True)
class Worker:
    instance_id: str
    name: str
    host: str
    pid: int
    version: str
    environment: str
    status: WorkerStatus
    started_at: datetime
    stopped_at: datetime | None = None
    last_heartbeat: datetime | None = None
    config_digest: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class JobRun:
    id: int | None
    job_type: str  # collection, analysis, baseline_rebuild, heartbeat, ...
    job_name: str  # e.g. "collection:orders-db"
    worker_id: str
    status: JobStatus
    scheduled_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: float | None = None
    result_status: ResultStatus | None = None
    message: str = ""
    error: str | None = None
    retry_count: int = 0
    max_retries: int = 0
    next_retry_at: datetime | None = None
    priority: int = 0
    target: str | None = None
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class WorkerMetrics:
    """A periodic snapshot of one worker's own resource use and work (worker_metrics)."""

    worker_id: str
    at: datetime
    cpu_percent: float | None
    memory_rss_bytes: int | None
    jobs_run: int  # since the worker started
    errors: int  # failed runs since the worker started
    schedule_lag_ms: float | None  # p99 of recent runs' start delay
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

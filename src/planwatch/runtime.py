"""Live, in-memory state of one worker that health checks and /metrics read at request time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from planwatch.clock import utcnow


@dataclass
class TargetState:
    """This worker's own view of a target it collects (metrics of its collections). The
    state every worker must agree on (up/down, last error, collector health) is in storage:
    `storage.targets`."""

    name: str
    up: bool | None = None  # None until this worker's first collection
    last_error: str | None = None
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    last_duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class HealthItem:
    name: str  # "storage", "target:orders-db", "job:analysis", "channel:slack"
    status: int  # 0 healthy, 1 degraded, 2 unhealthy (web.health.Status values)
    message: str = ""


@dataclass(frozen=True, slots=True)
class HealthReport:
    at: datetime
    items: tuple[HealthItem, ...]


@dataclass
class RuntimeState:
    """Counters and per-target state; mutated by jobs on the event loop thread only."""

    targets: dict[str, TargetState] = field(default_factory=dict)
    counters: Counter[tuple[str, str]] = field(default_factory=Counter)  # (metric, label) -> n
    learning: dict[str, int] = field(default_factory=dict)  # per target: learning queries
    analysed_at: dict[str, datetime] = field(default_factory=dict)  # per target: last analysis
    storage_ok: bool = True
    storage_error: str | None = None
    started_at: datetime = field(default_factory=utcnow)  # auto-resolve waits for uptime
    health_report: HealthReport | None = None  # the health_check job's latest result
    job_states: Callable[[], list[Any]] | None = None  # the scheduler's JobState snapshots

    def target(self, name: str) -> TargetState:
        return self.targets.setdefault(name, TargetState(name))

    def count(self, metric: str, label: str = "", n: int = 1) -> None:
        self.counters[(metric, label)] += n

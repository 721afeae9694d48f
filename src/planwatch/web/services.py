"""What the web layer reads and acts through, handed over by the composition root (app.py).

Handlers see this, never the whole worker: storage (every read and every action goes through
it), the settings in effect, the live state /health and /metrics report, and the scheduler's
job states through the small `Jobs` protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from planwatch.checks.runner import CheckRunner
    from planwatch.config.settings import Settings
    from planwatch.fleet import Fleet
    from planwatch.histogram import Histogram
    from planwatch.runtime import RuntimeState
    from planwatch.scheduling.breaker import BreakerBoard
    from planwatch.scheduling.runner import JobState
    from planwatch.storage.engine import Storage


class Jobs(Protocol):
    """The scheduler as the web layer sees it: progress and per-job state, read only."""

    @property
    def last_tick(self) -> datetime: ...

    def states(self) -> list[JobState]: ...

    def duration_histograms(self) -> dict[str, Histogram]: ...

    def lag_histograms(self) -> dict[str, Histogram]: ...


@dataclass(frozen=True, slots=True)
class WebServices:
    instance_id: str
    storage: Storage
    state: RuntimeState  # per-target status, counters, the health_check job's report
    jobs: Jobs
    breakers: BreakerBoard  # per target: whether collection is attempted
    check_runner: CheckRunner
    fleet: Fleet | None  # which targets this worker collects; None (one-shot runs): all
    current_settings: Callable[[], Settings]  # a reload replaces the settings

    @property
    def settings(self) -> Settings:
        return self.current_settings()

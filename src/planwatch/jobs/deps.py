"""What every job needs, handed over by the composition root (no globals, no import wiring)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from planwatch.collectors.base import Collector, create
from planwatch.config.settings import Settings, TargetSettings
from planwatch.fleet import Fleet
from planwatch.runtime import RuntimeState
from planwatch.scheduling.breaker import BreakerBoard
from planwatch.selfstats import SelfStats
from planwatch.storage.engine import Storage

if TYPE_CHECKING:
    from planwatch.jobs.checks import CheckService

T = TypeVar("T")


@dataclass(frozen=True)
class JobDeps:
    """Complete when built (frozen): a reload builds new deps with `dataclasses.replace`."""

    settings: Settings
    storage: Storage
    state: RuntimeState
    breakers: BreakerBoard
    executor: ThreadPoolExecutor
    worker_id: str
    fleet: Fleet | None = None  # None for one-shot CLI runs: no leases, every job runs
    self_stats: SelfStats | None = None  # None for one-shot CLI runs: no worker_metrics
    checks: CheckService | None = None  # the SQL/endpoint check runner (jobs/checks.py)
    collectors: dict[str, Collector] = field(default_factory=dict)  # kept across reloads

    async def blocking(self, fn: Callable[..., T], *args: object) -> T:
        """Run a blocking driver call in the bounded thread pool."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def collector(self, target: TargetSettings) -> Collector:
        c = self.collectors.get(target.name)
        if c is None:
            c = self.collectors[target.name] = create(target)
        return c

    def drop_collector(self, name: str) -> None:
        """Forget a target's collector (its next poll starts from a new one)."""
        c = self.collectors.pop(name, None)
        if c is not None:
            c.close()


def close_all(collectors: dict[str, Collector]) -> None:
    """Close every collector (the composition root owns their lifetime)."""
    for c in collectors.values():
        c.close()
    collectors.clear()

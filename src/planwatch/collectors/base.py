"""The small protocol every collector implements, and the factory that picks one per engine.

Collectors are synchronous (blocking drivers); the scheduler runs them in a thread pool.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from planwatch.collectors.staging import SavedState
from planwatch.config.settings import TargetSettings
from planwatch.errors import CollectorError
from planwatch.model.plans import PlanRequest
from planwatch.model.samples import CollectionResult


class Collector(Protocol):
    def collect(self, now: datetime) -> CollectionResult:
        """Poll the target once; `now` is the end of the interval since the previous poll."""
        ...

    def wants_state(self) -> bool:
        """True until the collector has a snapshot to measure from (its first poll in this
        process): the caller then restores the target's stored one, if any."""
        ...

    def restore(self, data: bytes) -> None:
        """Measure the next poll from this stored snapshot (`storage.collector_state`)."""
        ...

    def saved_state(self) -> SavedState | None:
        """The last poll's snapshot to store with its samples; None when the engine keeps
        none (its source keeps its own history, as SQL Server's Query Store does)."""
        ...

    def rollback(self) -> None:
        """The last poll's results could not be stored: the next poll measures from the poll
        before it, covering the gap as one longer interval (`collectors.staging`)."""
        ...

    def request_plans(self, requests: Iterable[PlanRequest]) -> None:
        """Ask for a plan capture of these queries during the next collection (suspects:
        they go before any other capture, see `collectors.capture`)."""
        ...

    def close(self) -> None:
        """Release connections; the collector may be used again (it reconnects lazily)."""
        ...


def create(target: TargetSettings) -> Collector:
    """The collector for `target.engine`; CollectorError(fatal=True) when there is none."""
    if target.engine in ("postgresql", "postgres"):
        from planwatch.collectors.postgres import PostgresCollector

        return PostgresCollector(target)
    if target.engine in ("mysql", "mariadb"):
        from planwatch.collectors.mysql import MysqlCollector

        return MysqlCollector(target)
    if target.engine in ("sqlserver", "mssql"):
        from planwatch.collectors.sqlserver import SqlServerCollector

        return SqlServerCollector(target)
    raise CollectorError(target.name, f"engine {target.engine} has no collector yet", fatal=True)

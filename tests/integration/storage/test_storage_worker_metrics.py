"""worker_metrics: snapshots are recorded, read newest first per worker, and expire in batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from planwatch.model.jobs import WorkerMetrics
from planwatch.storage import worker_metrics
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def snap(worker: str, minute: int, jobs: int = 1) -> WorkerMetrics:
    return WorkerMetrics(worker_id=worker, at=T0 + timedelta(minutes=minute), cpu_percent=1.5,
                         memory_rss_bytes=50_000_000, jobs_run=jobs, errors=0,
                         schedule_lag_ms=3.0, data={"threads": 7})


def test_record_and_read_newest_first(storage: Storage) -> None:
    for minute in range(3):
        worker_metrics.record(storage, snap("w1", minute, jobs=minute))
    worker_metrics.record(storage, snap("w2", 5))
    mine = worker_metrics.recent(storage, "w1")
    assert [m.jobs_run for m in mine] == [2, 1, 0]
    assert mine[0] == snap("w1", 2, jobs=2) and mine[0].data == {"threads": 7}
    assert [m.worker_id for m in worker_metrics.recent(storage, limit=2)] == ["w2", "w1"]
    assert len(worker_metrics.recent(storage, since=T0 + timedelta(minutes=1))) == 2


def test_delete_before_works_in_batches(storage: Storage) -> None:
    for minute in range(7):
        worker_metrics.record(storage, snap("w1", minute))
    assert worker_metrics.delete_before(storage, T0 + timedelta(minutes=5), batch_size=2) == 5
    assert [m.at.minute for m in worker_metrics.recent(storage)] == [6, 5]

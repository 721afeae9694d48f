"""workers and job_runs: registry, the SQLite single-worker rule, run history."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from planwatch.errors import NotFound, StorageLockedError
from planwatch.model.jobs import JobRun, JobStatus, ResultStatus, Worker, WorkerStatus
from planwatch.storage import job_runs, workers
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STALE = timedelta(minutes=1)


def worker(instance_id: str, at: datetime = T0, **kw: object) -> Worker:
    base = Worker(
        instance_id,
        f"w-{instance_id}",
        "host-a",
        4242,
        "0.1.0",
        "prod",
        WorkerStatus.STARTING,
        at,
        last_heartbeat=at,
        config_digest="abc",
        tags=("eu",),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_register_heartbeat_status_and_list(storage: Storage) -> None:
    workers.register(storage, worker("one"), stale_after=STALE)
    workers.set_status(storage, "one", WorkerStatus.RUNNING, T0 + timedelta(seconds=1))
    workers.heartbeat(storage, "one", T0 + timedelta(seconds=15))
    [w] = workers.list_all(storage)
    assert w == worker(
        "one", status=WorkerStatus.RUNNING, last_heartbeat=T0 + timedelta(seconds=15)
    )

    workers.set_status(storage, "one", WorkerStatus.STOPPED, T0 + timedelta(seconds=20))
    [w] = workers.list_all(storage)
    assert (w.status, w.stopped_at) == (WorkerStatus.STOPPED, T0 + timedelta(seconds=20))
    with pytest.raises(NotFound):
        workers.heartbeat(storage, "ghost", T0)


def test_sqlite_storage_refuses_a_second_live_worker(storage: Storage) -> None:
    workers.register(storage, worker("one"), stale_after=STALE)
    second = worker("two", T0 + timedelta(seconds=30), pid=777)
    if storage.dialect != "sqlite":
        workers.register(storage, second, stale_after=STALE)  # fleets share PostgreSQL
        assert len(workers.list_all(storage)) == 2
        return
    with pytest.raises(StorageLockedError) as info:
        workers.register(storage, second, stale_after=STALE)
    message = str(info.value)
    assert "w-one" in message and "host-a" in message and "4242" in message
    assert [w.instance_id for w in workers.list_all(storage)] == ["one"]
    workers.register(storage, worker("one", T0 + timedelta(seconds=40)), stale_after=STALE)


def test_stale_or_stopped_workers_do_not_block(storage: Storage) -> None:
    workers.register(storage, worker("crashed"), stale_after=STALE)  # never heard from again
    restart = T0 + timedelta(minutes=2)
    workers.register(storage, worker("stopped", restart), stale_after=STALE)
    workers.set_status(storage, "stopped", WorkerStatus.STOPPED, restart + timedelta(seconds=1))
    later = T0 + timedelta(minutes=5)
    workers.register(storage, worker("fresh", later), stale_after=STALE)

    assert workers.mark_dead(storage, later - STALE) == ["crashed"]
    assert workers.mark_dead(storage, later - STALE) == []
    status = {w.instance_id: w.status for w in workers.list_all(storage)}
    assert status == {
        "crashed": WorkerStatus.DEAD,
        "stopped": WorkerStatus.STOPPED,
        "fresh": WorkerStatus.STARTING,
    }
    # Only slow, not dead: its next heartbeat makes it Running again (and fleet-counted).
    workers.heartbeat(storage, "crashed", later + timedelta(seconds=1))
    workers.heartbeat(storage, "stopped", later + timedelta(seconds=1))
    status = {w.instance_id: w.status for w in workers.list_all(storage)}
    assert status["crashed"] is WorkerStatus.RUNNING
    assert status["stopped"] is WorkerStatus.STOPPED


def run(name: str, at: datetime, **kw: object) -> JobRun:
    base = JobRun(
        None,
        name.split(":")[0],
        name,
        "w1",
        JobStatus.RUNNING,
        at,
        started_at=at,
        target=name.split(":")[1] if ":" in name else None,
        max_retries=3,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_job_runs_start_finish_recent(storage: Storage) -> None:
    first = job_runs.start(storage, run("collection:pg1", T0, data={"n": 1}))
    second = job_runs.start(storage, run("collection:pg2", T0 + timedelta(seconds=1)))
    third = job_runs.start(storage, run("heartbeat", T0 + timedelta(seconds=2), worker_id="w2"))
    done = T0 + timedelta(seconds=3)
    job_runs.finish(
        storage,
        first,
        status=JobStatus.FAILED,
        result_status=ResultStatus.ERROR,
        completed_at=done,
        duration_ms=3000.0,
        message="boom",
        error="TargetUnreachable: pg1",
        data={"statements": 0},
        retry_count=1,
        next_retry_at=done + timedelta(seconds=30),
    )

    assert [r.id for r in job_runs.recent(storage)] == [third, second, first]
    failed = job_runs.recent(storage, target="pg1")[0]
    assert failed == run(
        "collection:pg1",
        T0,
        id=first,
        status=JobStatus.FAILED,
        result_status=ResultStatus.ERROR,
        completed_at=done,
        duration_ms=3000.0,
        message="boom",
        error="TargetUnreachable: pg1",
        retry_count=1,
        next_retry_at=done + timedelta(seconds=30),
    )
    assert failed.data == {"statements": 0}
    assert [r.id for r in job_runs.recent(storage, job_type="collection", limit=1)] == [second]
    assert [r.id for r in job_runs.recent(storage, job_name="heartbeat")] == [third]
    assert [r.id for r in job_runs.recent(storage, worker_id="w2")] == [third]
    with pytest.raises(NotFound):
        job_runs.finish(
            storage,
            999_999,
            status=JobStatus.COMPLETED,
            result_status=None,
            completed_at=done,
            duration_ms=1.0,
        )

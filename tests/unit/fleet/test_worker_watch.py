"""Which workers are down (pure): a death not followed by a start of the same name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from planwatch.jobs.worker_watch import findings
from planwatch.model.findings import Severity
from planwatch.model.jobs import Worker, WorkerStatus

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RUNNING, DEAD, STOPPED = WorkerStatus.RUNNING, WorkerStatus.DEAD, WorkerStatus.STOPPED


def row(name: str, status: WorkerStatus, started_min: int, last_beat_min: int,
        pid: int = 100) -> Worker:
    return Worker(instance_id=f"{name}-{started_min}", name=name, host="h1", pid=pid,
                  version="1", environment="", status=status,
                  started_at=T0 + timedelta(minutes=started_min),
                  last_heartbeat=T0 + timedelta(minutes=last_beat_min))


def down(rows: list[Worker]) -> list[str]:
    return [f.component for f in findings(rows)]


def test_a_dead_worker_is_down_until_its_name_starts_again() -> None:
    dead = row("w/1", DEAD, 0, 10, pid=4242)
    (finding,) = findings([dead, row("w/2", RUNNING, 0, 30)])
    assert (finding.target, finding.component, finding.severity) == (
        "planwatch", "worker:w/1", Severity.WARNING)
    assert "w/1 (host h1, pid 4242) is dead: no heartbeat since 2026-03-01 12:10:00 UTC" in (
        finding.message)
    assert down([dead, row("w/1", RUNNING, 11, 30)]) == []  # restarted (by its supervisor)
    assert down([dead, row("w/1", STOPPED, 11, 12)]) == []  # came back, then stopped cleanly


def test_only_the_latest_death_of_a_name_counts() -> None:
    # Restarted once, then died again: down; two same-named workers, the older one died
    # while the newer one runs: down as well (nothing started after that death).
    assert down([row("w", DEAD, 0, 5), row("w", DEAD, 6, 20)]) == ["worker:w"]
    assert down([row("w", RUNNING, 1, 30), row("w", DEAD, 0, 20)]) == ["worker:w"]


def test_clean_stops_and_live_workers_are_not_down() -> None:
    assert down([row("a", STOPPED, 0, 5), row("b", RUNNING, 0, 30)]) == []
    assert down([]) == []

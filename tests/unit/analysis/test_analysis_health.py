"""Collector health findings: evictions, capacity, resets, missed polls, warnings."""

from __future__ import annotations

from datetime import UTC, datetime

from planwatch.analysis import health
from planwatch.model.findings import Severity
from planwatch.model.samples import CollectorHealth

AT = datetime(2024, 5, 8, 12, 0, tzinfo=UTC)


def components(h: CollectorHealth) -> list[str]:
    return [f.component for f in health.collector_findings(h)]


def test_healthy_poll_has_no_findings() -> None:
    assert health.collector_findings(CollectorHealth("pg1", AT, entries=100,
                                                     max_entries=5000)) == []


def test_evictions() -> None:
    (finding,) = health.collector_findings(CollectorHealth("pg1", AT, evicted=3))
    assert (finding.target, finding.component, finding.severity) == (
        "pg1", "evictions", Severity.WARNING)
    assert "3 statement entries were evicted" in finding.message


def test_capacity_from_ninety_percent() -> None:
    assert components(CollectorHealth("pg1", AT, entries=4499, max_entries=5000)) == []
    (finding,) = health.collector_findings(CollectorHealth("pg1", AT, entries=4500,
                                                           max_entries=5000))
    assert finding.component == "capacity"
    assert "90% full (4500 of 5000 entries)" in finding.message
    assert components(CollectorHealth("pg1", AT, entries=10, max_entries=None)) == []


def test_reset_restart_and_missed_polls() -> None:
    assert components(CollectorHealth("pg1", AT, reset=True)) == ["reset"]
    (restart,) = health.collector_findings(CollectorHealth("pg1", AT, restarted=True))
    assert restart.component == "reset" and "server restarted" in restart.message
    (missed,) = health.collector_findings(CollectorHealth("pg1", AT, missed_polls=2))
    assert missed.component == "missed_polls" and missed.message.startswith("2 poll(s)")


def test_each_warning_is_a_finding_keyed_by_its_topic() -> None:
    h = CollectorHealth("pg1", AT, evicted=1, warnings=(
        "role lacks pg_read_all_stats: other users' query texts are hidden",
        "track_io_timing is off",
    ))
    found = health.collector_findings(h)
    assert [f.component for f in found] == [
        "evictions", "warning:role lacks pg_read_all_stats", "warning:track_io_timing is off"]
    assert found[1].message == "role lacks pg_read_all_stats: other users' query texts are hidden"

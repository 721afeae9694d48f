"""A poll never runs concurrently with a previous poll of the same collector that outlived
its job timeout in a driver thread."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from planwatch.errors import CollectorError
from planwatch.jobs.collection import _collect_exclusively
from planwatch.model.samples import CollectionResult

NOW = datetime(2026, 11, 23, tzinfo=UTC)


class StuckCollector:
    """Blocks in `collect` until released, like a driver call on a frozen server."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.calls = 0

    def collect(self, now: datetime) -> CollectionResult:
        self.calls += 1
        self.entered.set()
        self.release.wait(10)
        raise CollectorError("t", "server went away")

    def request_plans(self, refs: object) -> None:
        pass

    def close(self) -> None:
        pass


def test_second_poll_is_refused_while_the_first_is_stuck_then_allowed() -> None:
    collector = StuckCollector()
    errors: list[Exception] = []

    def stuck_poll() -> None:
        try:
            _collect_exclusively(collector, "t", NOW)  # type: ignore[arg-type]
        except CollectorError as exc:
            errors.append(exc)

    first = threading.Thread(target=stuck_poll)
    first.start()
    assert collector.entered.wait(5)
    with pytest.raises(CollectorError, match="previous collection is still blocked"):
        _collect_exclusively(collector, "t", NOW)  # type: ignore[arg-type]
    assert collector.calls == 1
    collector.release.set()
    first.join(5)
    assert [str(e) for e in errors] == ["t: server went away"]
    with pytest.raises(CollectorError, match="server went away"):
        _collect_exclusively(collector, "t", NOW)  # type: ignore[arg-type]
    assert collector.calls == 2

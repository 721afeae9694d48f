"""Hotspots: top-N by share of time, I/O and calls per target, and queries new to the top."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from planwatch.analysis import hotspots
from planwatch.config.settings import HotspotSettings
from planwatch.model.findings import Hotspot
from planwatch.model.samples import QueryRef, QuerySample

T0 = datetime(2024, 5, 8, 12, 0, tzinfo=UTC)
A, B, C, D = (QueryRef("pg1", "shop", q) for q in "abcd")
OTHER = QueryRef("pg2", "crm", "a")


def s(ref: QueryRef, total_ms: float, calls: int, *, read: int = 0, temp: int = 0,
      hit: int = 0, suspect: bool = False) -> QuerySample:
    return QuerySample(ref, T0, T0 + timedelta(minutes=5), calls, total_ms, blks_hit=hit,
                       blks_read=read, blks_temp=temp,
                       extras={"suspect": True} if suspect else {})


WINDOW = [
    s(A, 600.0, 10, read=10, temp=0),
    s(A, 100.0, 10, read=0, temp=10),  # A: 700 ms, 20 calls, 20 blocks
    s(B, 200.0, 60, read=60),
    s(C, 100.0, 10, read=2),
    s(D, 0.0, 10, read=18),  # D: 0 ms of 1000, 10 calls of 100
]


def by_metric(found: list[Hotspot], metric: str) -> list[tuple[str, float, int]]:
    return [(h.ref.query_id, round(h.share, 3), h.rank) for h in found if h.metric == metric]


def test_shares_per_metric() -> None:
    found = hotspots.find(WINDOW, previous_top={}, settings=HotspotSettings())
    assert by_metric(found, "time") == [("a", 0.7, 1), ("b", 0.2, 2), ("c", 0.1, 3)]
    assert by_metric(found, "io") == [("b", 0.6, 1), ("a", 0.2, 2), ("d", 0.18, 3)]
    assert by_metric(found, "calls") == [("b", 0.6, 1), ("a", 0.2, 2), ("c", 0.1, 3),
                                         ("d", 0.1, 4)]
    assert not any(h.new_in_top for h in found)  # no history yet
    first = found[0]
    assert first.value == 700.0
    assert first.share == pytest.approx(0.7)


def test_min_share_and_top_n() -> None:
    found = hotspots.find(WINDOW, previous_top={},
                          settings=HotspotSettings(top_n=2, min_share=0.25))
    assert [(h.metric, h.ref.query_id) for h in found] == [
        ("time", "a"), ("io", "b"), ("calls", "b")]


def test_new_in_top_against_previous_top_sets() -> None:
    settings = HotspotSettings()
    previous = hotspots.top_sets(hotspots.find(WINDOW[2:], previous_top={}, settings=settings))
    assert previous["time"] == {B, C}
    found = hotspots.find(WINDOW, previous_top=previous, settings=settings)
    assert [(h.ref.query_id, h.new_in_top) for h in found if h.metric == "time"] == [
        ("a", True), ("b", False), ("c", False)]


def test_io_falls_back_to_logical_reads_when_everything_is_cached() -> None:
    cached = [s(A, 10.0, 1, hit=900), s(B, 10.0, 1, hit=100)]
    found = hotspots.find(cached, previous_top={}, settings=HotspotSettings())
    assert by_metric(found, "io") == [("a", 0.9, 1), ("b", 0.1, 2)]


def test_targets_are_ranked_separately_and_suspect_samples_ignored() -> None:
    window = [*WINDOW, s(OTHER, 5.0, 1), s(OTHER, 9999.0, 1, suspect=True)]
    found = hotspots.find(window, previous_top={}, settings=HotspotSettings())
    other = [h for h in found if h.ref.target == "pg2"]
    assert [(h.metric, h.share, h.rank) for h in other] == [("time", 1.0, 1), ("calls", 1.0, 1)]
    assert by_metric(found, "time")[0] == ("a", 0.7, 1)


def test_empty_window_has_no_hotspots() -> None:
    assert hotspots.find([], previous_top={}, settings=HotspotSettings()) == []
    assert hotspots.top_sets([]) == {"time": set(), "io": set(), "calls": set()}

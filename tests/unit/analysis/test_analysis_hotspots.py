"""Hotspots: top-N by share of time, I/O and calls per target, and lasting shifts of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from planwatch.analysis import hotspots
from planwatch.model.baselines import Baseline
from planwatch.model.findings import Hotspot
from planwatch.model.policies import HotspotSettings
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
    found = hotspots.find(WINDOW, settings=HotspotSettings())
    assert by_metric(found, "time") == [("a", 0.7, 1), ("b", 0.2, 2), ("c", 0.1, 3)]
    assert by_metric(found, "io") == [("b", 0.6, 1), ("a", 0.2, 2), ("d", 0.18, 3)]
    assert by_metric(found, "calls") == [("b", 0.6, 1), ("a", 0.2, 2), ("c", 0.1, 3),
                                         ("d", 0.1, 4)]
    first = found[0]
    assert first.value == 700.0
    assert first.share == pytest.approx(0.7)


def test_min_share_and_top_n() -> None:
    found = hotspots.find(WINDOW,
                          settings=HotspotSettings(top_n=2, min_share=0.25))
    assert [(h.metric, h.ref.query_id) for h in found] == [
        ("time", "a"), ("io", "b"), ("calls", "b")]


def test_io_falls_back_to_logical_reads_when_everything_is_cached() -> None:
    cached = [s(A, 10.0, 1, hit=900), s(B, 10.0, 1, hit=100)]
    found = hotspots.find(cached, settings=HotspotSettings())
    assert by_metric(found, "io") == [("a", 0.9, 1), ("b", 0.1, 2)]


def test_targets_are_ranked_separately_and_suspect_samples_ignored() -> None:
    window = [*WINDOW, s(OTHER, 5.0, 1), s(OTHER, 9999.0, 1, suspect=True)]
    found = hotspots.find(window, settings=HotspotSettings())
    other = [h for h in found if h.ref.target == "pg2"]
    assert [(h.metric, h.share, h.rank) for h in other] == [("time", 1.0, 1), ("calls", 1.0, 1)]
    assert by_metric(found, "time")[0] == ("a", 0.7, 1)


def test_empty_window_has_no_hotspots() -> None:
    assert hotspots.find([], settings=HotspotSettings()) == []


def base(ref: QueryRef, calls: int, mean_ms: float, n: int = 20) -> Baseline:
    return Baseline(ref, None, T0 - timedelta(days=7), T0, n, calls, mean_ms, mean_ms, 0.0,
                    mean_ms, 0.0, T0)


# Baseline period: A 3%, B 67%, C 30% of the database time (1 ms per call each).
KNOWN = {A: base(A, 300, 1.0), B: base(B, 6700, 1.0), C: base(C, 3000, 1.0)}


def shifts(window: list[QuerySample], newcomers: set[QueryRef] = frozenset()) -> list[
        tuple[str, float, float, bool]]:
    by_query: dict[QueryRef, list[QuerySample]] = {}
    for x in window:
        by_query.setdefault(x.ref, []).append(x)
    found = hotspots.shifts(by_query, known=KNOWN, usable=set(KNOWN), newcomers=newcomers,
                            settings=HotspotSettings(), min_calls=10, min_ratio=2.0)
    return [(h.ref.query_id, round(h.share, 2), round(h.baseline_share, 2), h.new_query)
            for h in found]


def test_a_light_query_that_runs_far_more_often_is_a_shift() -> None:
    window = [s(A, 400.0, 400), s(B, 400.0, 400), s(C, 200.0, 200)]
    assert shifts(window) == [("a", 0.4, 0.03, False)]


def test_a_heavy_query_growing_or_a_light_one_slowing_down_is_no_shift() -> None:
    assert shifts([s(A, 30.0, 30), s(B, 900.0, 900), s(C, 70.0, 70)]) == []  # B was heavy
    assert shifts([s(A, 400.0, 40), s(B, 400.0, 400), s(C, 200.0, 200)]) == []  # A: 10 ms
    # A 1.9x slower per call (below min_ratio) with its usual share of calls, while the rest
    # got faster: its share of the time triples, yet nothing runs more often: not a shift
    assert shifts([s(A, 57.0, 30), s(B, 100.0, 670), s(C, 100.0, 300)]) == []


def test_rank_shuffles_and_load_changes_are_no_shift() -> None:
    same = [s(A, 40.0, 40), s(B, 560.0, 560), s(C, 400.0, 400)]  # the mix moves a little
    doubled = [s(A, 60.0, 60), s(B, 1340.0, 1340), s(C, 600.0, 600)]  # 2x the load, same mix
    assert shifts(same) == [] and shifts(doubled) == []


def test_one_long_call_is_no_lasting_shift() -> None:
    assert shifts([s(A, 900.0, 1), s(B, 60.0, 60), s(C, 40.0, 40)]) == []


def test_a_heavy_new_query_is_a_shift_only_when_new_to_the_target() -> None:
    window = [s(D, 500.0, 50), s(B, 300.0, 300), s(C, 200.0, 200)]
    assert shifts(window) == []  # new to planwatch only (e.g. just installed)
    assert shifts(window, newcomers={D}) == [("d", 0.5, 0.0, True)]

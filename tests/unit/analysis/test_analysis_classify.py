"""Cause classification: plan change, same plan (spills, growth), parameter sensitivity."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from planwatch.analysis import classify
from planwatch.model.baselines import Baseline
from planwatch.model.findings import Cause
from planwatch.model.plans import PlanNode
from planwatch.model.samples import QueryRef, QuerySample

NOW = datetime(2024, 5, 8, 12, 0, tzinfo=UTC)
REF = QueryRef("pg1", "shop", "101")
BASE = Baseline(
    ref=REF, plan_hash=None, window_start=NOW - timedelta(days=7), window_end=NOW, n=2016,
    calls=200_000, median_ms=10.0, p95_ms=14.0, mad_ms=1.5, mean_ms=10.5, stddev_ms=2.0,
    computed_at=NOW, dominant_plan_hash="aaaa", rows_per_call=5.0, blks_per_call=20.0,
    temp_blks_per_call=0.0,
)


def samples(*rows: tuple[float, int, str | None], temp: int = 0, rows_each: int = 0,
            suspect: bool = False) -> list[QuerySample]:
    out = []
    for i, (mean, calls, plan) in enumerate(rows):
        start = NOW + i * timedelta(minutes=5)
        out.append(QuerySample(REF, start, start + timedelta(minutes=5), calls, mean * calls,
                               rows=rows_each, blks_hit=calls * 20, blks_temp=temp,
                               plan_hash=plan, extras={"suspect": True} if suspect else {}))
    return out


def test_dominant_plan_change_is_a_plan_change_with_diff() -> None:
    old = PlanNode("Limit", children=(
        PlanNode("Index Scan", relation="orders", index="orders_customer_id_idx"),))
    new = PlanNode("Limit", children=(PlanNode("Seq Scan", relation="orders"),))
    lookup = {"aaaa": old, "bbbb": new}
    recent = samples((30.0, 100, "bbbb"), (30.0, 100, "bbbb"), (12.0, 50, "aaaa"))
    got = classify.classify(BASE, recent, plans=lambda ref, h: lookup.get(h))
    assert got.cause is Cause.PLAN_CHANGE
    assert (got.old_plan_hash, got.new_plan_hash) == ("aaaa", "bbbb")
    assert got.plan_diff == ("orders: Index Scan (orders_customer_id_idx) -> Seq Scan",)
    assert got.details["old_plan_hash"] == "aaaa" and got.details["new_plan_hash"] == "bbbb"


def test_plan_change_without_captured_plans_has_no_diff() -> None:
    got = classify.classify(BASE, samples((30.0, 100, "bbbb")), plans=lambda ref, h: None)
    assert (got.cause, got.plan_diff) == (Cause.PLAN_CHANGE, ())
    assert classify.classify(BASE, samples((30.0, 100, "bbbb"))).plan_diff == ()


def test_unknown_plan_on_either_side_is_not_a_plan_change() -> None:
    assert classify.classify(BASE, samples((30.0, 100, None))).cause is Cause.SAME_PLAN
    unknown = replace(BASE, dominant_plan_hash=None)
    assert classify.classify(unknown, samples((30.0, 100, "bbbb"))).cause is Cause.SAME_PLAN


def test_same_plan_with_temp_blocks_reports_a_spill() -> None:
    recent = samples((30.0, 100, "aaaa"), (31.0, 100, "aaaa"), temp=800, rows_each=1500)
    got = classify.classify(BASE, recent)
    assert got.cause is Cause.SAME_PLAN
    assert got.details["temp_blks_per_call"] == {"before": 0.0, "after": 8.0}
    assert got.details["rows_per_call"] == {"before": 5.0, "after": 15.0}
    assert got.details["blks_per_call"] == {"before": 20.0, "after": 20.0}
    assert got.details["spill_suspected"] is True


def test_same_plan_without_temp_blocks_is_no_spill() -> None:
    got = classify.classify(BASE, samples((30.0, 100, "aaaa"), (29.0, 100, "aaaa")))
    assert (got.cause, got.details["spill_suspected"]) == (Cause.SAME_PLAN, False)


def test_wide_recent_spread_on_a_varied_baseline_is_parameter_sensitivity() -> None:
    varied = replace(BASE, mad_ms=4.0)
    recent = samples((12.0, 100, "aaaa"), (60.0, 100, "aaaa"), (18.0, 100, "aaaa"))
    got = classify.classify(varied, recent)
    assert got.cause is Cause.PARAMETER_SENSITIVITY
    assert got.details["recent_max_min"] == 5.0
    assert got.details["baseline_mad_ratio"] == 0.4
    # The same spread on a tight baseline (MAD / median 0.15) is the same plan doing more.
    assert classify.classify(BASE, recent).cause is Cause.SAME_PLAN


def test_spread_counts_only_the_dominant_plan_and_usable_samples() -> None:
    varied = replace(BASE, mad_ms=4.0)
    recent = samples((30.0, 100, "aaaa"), (31.0, 100, "aaaa"), (1.0, 10, None))
    recent += samples((500.0, 100, "aaaa"), suspect=True)
    got = classify.classify(varied, recent)
    assert got.cause is Cause.SAME_PLAN
    assert got.details["recent_max_min"] == 1.033

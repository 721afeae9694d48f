"""Regression rules of SPEC section 4 with literal numbers (default RegressionSettings).

Baseline: median 10 ms, p95 14 ms, mean 10.5 ms, std 2 ms over 2016 intervals, 200k calls.
Effect needs recent mean >= 20 ms (2 x median) and >= 19 ms (p95 + 5); impact needs
(recent mean - 10.5) x recent calls >= 1000 ms.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from planwatch.analysis import regressions
from planwatch.model.baselines import Baseline
from planwatch.model.findings import Cause, Severity
from planwatch.model.plans import PlanNode
from planwatch.model.policies import RegressionSettings
from planwatch.model.samples import QueryRef, QuerySample

NOW = datetime(2024, 5, 8, 12, 0, tzinfo=UTC)
REF = QueryRef("pg1", "shop", "101")
SETTINGS = RegressionSettings()


def baseline(**changes: object) -> Baseline:
    values: dict[str, object] = dict(
        ref=REF, plan_hash=None, window_start=NOW - timedelta(days=7), window_end=NOW,
        n=2016, calls=200_000, median_ms=10.0, p95_ms=14.0, mad_ms=1.5, mean_ms=10.5,
        stddev_ms=2.0, computed_at=NOW, dominant_plan_hash="aaaa", rows_per_call=5.0,
        blks_per_call=20.0, temp_blks_per_call=0.0,
    )
    values.update(changes)
    return Baseline(**values)  # type: ignore[arg-type]


def window(means: list[float], calls: int = 100, plan: str | None = "aaaa",
           **extra: object) -> list[QuerySample]:
    """Consecutive 5-minute samples ending at NOW."""
    start = NOW - len(means) * timedelta(minutes=5)
    return [
        QuerySample(REF, start + i * timedelta(minutes=5), start + (i + 1) * timedelta(minutes=5),
                    calls=calls, total_ms=m * calls, rows=5 * calls, blks_hit=20 * calls,
                    plan_hash=plan, **extra)  # type: ignore[arg-type]
        for i, m in enumerate(means)
    ]


def test_steady_noisy_window_is_normal() -> None:
    recent = window([9.0, 11.5, 10.2])
    assert regressions.detect(baseline(), recent, SETTINGS) is None
    assert regressions.is_normal(baseline(), recent, SETTINGS) is True


def test_three_times_slower_with_enough_calls_is_a_warning() -> None:
    found = regressions.detect(baseline(), window([30.0, 31.0, 29.0]), SETTINGS)
    assert found is not None
    assert found.severity is Severity.WARNING
    assert found.cause is Cause.PLAN_UNKNOWN  # no plan captured since the slowdown began
    assert found.plan_changed is None
    observed = window([30.0, 31.0, 29.0], extras={"plan_observed": True})
    same = regressions.detect(baseline(), observed, SETTINGS)
    assert same is not None and same.cause is Cause.SAME_PLAN and same.plan_changed is False
    assert (found.baseline_ms, found.current_ms, found.ratio) == (10.0, 30.0, 3.0)
    assert found.impact_ms == pytest.approx((30.0 - 10.5) * 300)
    assert (found.recent_calls, found.baseline_calls) == (300, 200_000)
    assert found.p_value < 0.01
    assert regressions.is_normal(baseline(), window([30.0, 31.0, 29.0]), SETTINGS) is False


def test_six_times_slower_is_critical() -> None:
    found = regressions.detect(baseline(), window([60.0, 61.0, 59.0]), SETTINGS)
    assert found is not None and found.severity is Severity.CRITICAL
    assert found.ratio == 6.0


def test_slower_but_below_min_abs_ms_is_no_regression() -> None:
    fast = baseline(median_ms=1.0, p95_ms=2.0, mean_ms=1.1, stddev_ms=0.3, mad_ms=0.2)
    recent = window([3.0, 3.0, 3.0], calls=1000)  # 3x the median but < p95 + 5 ms = 7 ms
    assert regressions.detect(fast, recent, SETTINGS) is None
    assert regressions.is_normal(fast, recent, SETTINGS) is True


def test_slower_with_too_few_calls_is_skipped() -> None:
    recent = window([30.0, 30.0, 30.0], calls=3)  # 9 calls < min_calls 10
    result = regressions.evaluate({REF: baseline()}, {REF: recent}, SETTINGS)
    assert result.regressions == []
    assert result.skipped == {REF: regressions.FEW_CALLS}
    assert REF not in result.normal


def test_impact_below_min_impact_is_skipped() -> None:
    recent = window([30.0, 30.0, 30.0], calls=4)  # 12 calls x 19.5 ms = 234 ms < 1 s
    result = regressions.evaluate({REF: baseline()}, {REF: recent}, SETTINGS)
    assert result.regressions == []
    assert result.skipped == {REF: regressions.LOW_IMPACT}


def test_effect_without_significance_is_skipped() -> None:
    recent = window([5.0, 5.0, 80.0])  # mean 30 but the intervals disagree wildly
    result = regressions.evaluate({REF: baseline()}, {REF: recent}, SETTINGS)
    assert result.regressions == []
    assert result.skipped == {REF: regressions.NOT_SIGNIFICANT}
    assert REF not in result.normal


def test_first_seen_queries_never_regress() -> None:
    recent = window([300.0, 300.0, 300.0])
    result = regressions.evaluate({}, {REF: recent}, SETTINGS)
    assert (result.regressions, result.skipped) == ([], {REF: regressions.FIRST_SEEN})
    young = baseline(n=11)  # < min_baseline_samples 12
    result = regressions.evaluate({REF: young}, {REF: recent}, SETTINGS)
    assert (result.regressions, result.skipped) == ([], {REF: regressions.FEW_BASELINE_SAMPLES})
    assert regressions.detect(young, recent, SETTINGS) is None
    assert regressions.detect(None, recent, SETTINGS) is None


def test_suspect_samples_are_ignored() -> None:
    recent = window([10.0, 10.0]) + window([5000.0], extras={"suspect": True})
    assert regressions.detect(baseline(), recent, SETTINGS) is None
    assert regressions.is_normal(baseline(), recent, SETTINGS) is True
    only_suspect = window([5000.0], extras={"suspect": True})
    result = regressions.evaluate({REF: baseline()}, {REF: only_suspect}, SETTINGS)
    assert result.no_data == {REF} and result.regressions == []


def test_single_recent_interval_uses_the_prediction_test() -> None:
    found = regressions.detect(baseline(), window([30.0]), SETTINGS)
    assert found is not None and found.p_value < 1e-10
    assert regressions.detect(baseline(stddev_ms=20.0), window([30.0]), SETTINGS) is None


def test_perfectly_steady_baseline_does_not_divide_by_zero() -> None:
    steady = baseline(stddev_ms=0.0, mad_ms=0.0, p95_ms=10.0, mean_ms=10.0)
    found = regressions.detect(steady, window([25.0, 25.0, 25.0]), SETTINGS)
    assert found is not None and found.p_value < 0.01


def test_is_normal_after_recovery_and_without_data() -> None:
    assert regressions.is_normal(baseline(), window([10.5, 9.8, 10.1]), SETTINGS) is True
    assert regressions.is_normal(baseline(), window([30.0], calls=0), SETTINGS) is None
    assert regressions.is_normal(baseline(), [], SETTINGS) is None
    assert regressions.is_normal(None, window([10.0]), SETTINGS) is None


def test_evaluate_sorts_verdicts_and_diffs_changed_plans() -> None:
    other = QueryRef("pg1", "shop", "202")
    quiet = QueryRef("pg1", "shop", "303")
    old = PlanNode("Index Scan", relation="orders", index="orders_customer_id_idx")
    new = PlanNode("Seq Scan", relation="orders")
    asked: list[tuple[QueryRef, str]] = []

    def plans(ref: QueryRef, plan_hash: str) -> PlanNode | None:
        asked.append((ref, plan_hash))
        return {"aaaa": old, "bbbb": new}.get(plan_hash)

    recent = {
        REF: window([60.0, 60.0, 60.0], plan="bbbb", extras={"plan_observed": True}),
        other: [s.__class__(other, s.interval_start, s.interval_end, s.calls, s.total_ms,
                            plan_hash="aaaa") for s in window([10.0, 10.2, 9.9])],
    }
    known = {REF: baseline(), other: baseline(ref=other), quiet: baseline(ref=quiet)}
    result = regressions.evaluate(known, recent, SETTINGS, plans)
    assert [r.ref for r in result.regressions] == [REF]
    assert result.suspects == {REF}
    found = result.regressions[0]
    assert found.cause is Cause.PLAN_CHANGE and found.plan_changed
    assert (found.old_plan_hash, found.new_plan_hash) == ("aaaa", "bbbb")
    assert found.plan_diff == ("orders: Index Scan (orders_customer_id_idx) -> Seq Scan",)
    assert asked == [(REF, "aaaa"), (REF, "bbbb")]
    assert result.normal == {other}
    assert result.no_data == {quiet}
    assert result.skipped == {}


def test_parameter_sensitive_regression() -> None:
    spread = baseline(mad_ms=4.0)  # MAD / median 0.4: the query always varied
    recent = window([25.0, 75.0] * 6, extras={"plan_observed": True})  # mean 50, max/min 3
    found = regressions.detect(spread, recent, SETTINGS)
    assert found is not None
    assert found.cause is Cause.PARAMETER_SENSITIVITY
    assert found.details["recent_max_min"] == 3.0


def test_custom_thresholds_are_respected() -> None:
    strict = RegressionSettings(min_ratio=4.0, min_impact=timedelta(minutes=5))
    assert regressions.detect(baseline(), window([30.0, 31.0, 29.0]), strict) is None
    lenient = RegressionSettings(min_ratio=1.5, min_abs_ms=1.0, critical_ratio=1.6)
    found = regressions.detect(baseline(), window([17.0, 17.5, 16.5]), lenient)
    assert found is not None and found.severity is Severity.CRITICAL


def test_a_change_inside_the_window_is_judged_on_the_intervals_since_it() -> None:
    # Six intervals: four normal, then two at 2.5x. The window mean (15 ms) has no effect yet.
    recent = window([10.0, 10.2, 9.9, 10.1, 25.0, 25.5])
    found = regressions.detect(baseline(), recent, SETTINGS)
    assert found is not None and found.current_ms == pytest.approx(25.25)
    # One slow interval at the end is not enough on its own, nor a run that is not ongoing.
    assert regressions.detect(baseline(), window([10.0, 10.2, 9.9, 10.1, 10.0, 25.0]),
                              SETTINGS) is None
    ended = window([10.0, 10.2, 25.0, 25.5, 10.0, 10.1])
    assert regressions.detect(baseline(), ended, SETTINGS) is None
    assert regressions.is_normal(baseline(), ended, SETTINGS) is True

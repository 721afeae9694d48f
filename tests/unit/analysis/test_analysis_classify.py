"""Plan verdicts from evidence: plan change, same plan (what else changed), plan unknown."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from planwatch.analysis import classify
from planwatch.model.baselines import Baseline
from planwatch.model.findings import Cause
from planwatch.model.plans import PlanNode, PlanSighting
from planwatch.model.policies import RegressionSettings
from planwatch.model.samples import QueryRef, QuerySample

NOW = datetime(2024, 5, 8, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
REF = QueryRef("pg1", "shop", "101")
SETTINGS = RegressionSettings()
BASE = Baseline(
    ref=REF, plan_hash=None, window_start=NOW - timedelta(days=7), window_end=NOW, n=2016,
    calls=200_000, median_ms=10.0, p95_ms=14.0, mad_ms=1.5, mean_ms=10.5, stddev_ms=2.0,
    computed_at=NOW, dominant_plan_hash="aaaa", rows_per_call=5.0, blks_per_call=20.0,
    temp_blks_per_call=0.0,
)
OLD = PlanNode("Limit", children=(
    PlanNode("Index Scan", relation="orders", index="orders_customer_id_idx",
             estimates={"Index Cond": "(customer_id = $1)"}),))
NEW = PlanNode("Limit", children=(PlanNode("Seq Scan", relation="orders"),))
LOOKUP = {"aaaa": OLD, "bbbb": NEW}


def samples(*rows: tuple[float, int, str | None, bool], temp: int = 0, rows_each: int = 5,
            blks: int = 20, extras: dict[str, object] | None = None) -> list[QuerySample]:
    """(mean ms, calls, carried plan hash, plan observed in the interval) per interval."""
    out = []
    for i, (mean, calls, plan, observed) in enumerate(rows):
        start = NOW + i * STEP
        extra = dict(extras or {})
        if observed:
            extra["plan_observed"] = True
        out.append(QuerySample(REF, start, start + STEP, calls, mean * calls,
                               rows=rows_each * calls, blks_hit=calls * blks,
                               blks_temp=temp * calls, plan_hash=plan, extras=extra))
    return out


def verdict(baseline: Baseline, recent: list[QuerySample],
            *sightings: PlanSighting, error: str | None = None) -> classify.Classification:
    known = classify.PlanEvidence(tuple(sightings), error)
    return classify.classify(baseline, recent, settings=SETTINGS,
                             plans=lambda ref, h: LOOKUP.get(h), known=known)


def test_a_plan_captured_after_the_onset_that_differs_is_a_plan_change_with_diff() -> None:
    recent = samples((10.0, 100, "aaaa", False), (30.0, 100, "aaaa", False),
                     (31.0, 100, "bbbb", True))
    got = verdict(BASE, recent)
    assert got.cause is Cause.PLAN_CHANGE
    assert (got.old_plan_hash, got.new_plan_hash) == ("aaaa", "bbbb")
    assert got.plan_diff == ("orders: Index Scan (orders_customer_id_idx) -> Seq Scan",)
    assert got.onset == NOW + STEP
    assert [c.describe() for c in got.candidates] == ["orders (customer_id)"]


def test_a_carried_over_hash_is_no_evidence() -> None:
    """The sample's hash is the last capture's: without a capture since the onset, unknown."""
    got = verdict(BASE, samples((30.0, 100, "aaaa", False), (30.0, 100, "aaaa", False)))
    assert got.cause is Cause.PLAN_UNKNOWN
    assert got.details["plan_reason"] == classify.NO_CAPTURE
    assert got.needs_capture is True


def test_a_capture_before_the_onset_is_no_evidence() -> None:
    before = PlanSighting("aaaa", NOW - timedelta(days=1), NOW + STEP)  # ends the normal one
    recent = samples((10.0, 100, "aaaa", False), (10.0, 100, "aaaa", True),
                     (30.0, 100, "aaaa", False))
    got = verdict(BASE, recent, before)
    assert got.cause is Cause.PLAN_UNKNOWN and got.needs_capture


def test_a_failed_capture_is_named() -> None:
    got = verdict(BASE, samples((30.0, 100, "aaaa", False)), error="permission denied for t")
    assert got.details["plan_reason"] == classify.CAPTURE_FAILED
    assert "permission denied for t" in got.details["plan_reason_text"]


def test_the_same_plan_captured_after_the_onset_is_same_plan_with_what_else_changed() -> None:
    recent = samples((30.0, 100, "aaaa", False), (31.0, 100, "aaaa", True),
                     temp=8, rows_each=15)
    after = PlanSighting("aaaa", NOW - timedelta(days=3), NOW + 2 * STEP,
                         {"plan_kind": "generic", "role": "app", "settings": {"work_mem": "64kB"}})
    got = verdict(BASE, recent, after)
    assert got.cause is Cause.SAME_PLAN
    assert got.details["temp_blks_per_call"] == {"before": 0.0, "after": 8.0, "ratio": None}
    assert got.details["rows_per_call"] == {"before": 5.0, "after": 15.0, "ratio": 3.0}
    assert got.details["spill_suspected"] is True
    assert "work_mem is 64kB" in got.details["spill"]
    assert got.details["plan_evidence"]["role"] == "app"
    assert "same_work" not in got.details  # more rows and a spill: not the same work


def test_the_same_work_per_call_without_waits_is_named_cpu() -> None:
    recent = samples((30.0, 100, "aaaa", True), (31.0, 100, "aaaa", True), blks=21)
    got = verdict(BASE, recent)
    assert got.cause is Cause.SAME_PLAN
    assert "the extra time is CPU" in got.details["same_work"]


def test_generic_plan_unchanged_but_blocks_up_tenfold_is_unknown() -> None:
    recent = samples((30.0, 100, "aaaa", True), (31.0, 100, "aaaa", True), blks=1340)
    got = verdict(BASE, recent)
    assert got.cause is Cause.PLAN_UNKNOWN
    assert got.details["plan_reason"] == classify.EXECUTED_PLAN_DIFFERS
    assert "blocks per call moved 67x up" in got.details["plan_reason_text"]
    assert got.needs_capture is False


def test_an_executed_plan_that_matches_stays_same_plan_whatever_the_blocks() -> None:
    recent = samples((30.0, 100, "aaaa", True), blks=1340)
    executed = PlanSighting("aaaa", NOW, NOW + STEP, {"plan_kind": "sample statement"})
    assert verdict(BASE, recent, executed).cause is Cause.SAME_PLAN


def test_no_plan_known_before_the_slowdown_is_unknown() -> None:
    got = verdict(replace(BASE, dominant_plan_hash=None), samples((30.0, 100, "bbbb", True)))
    assert got.cause is Cause.PLAN_UNKNOWN
    assert got.details["plan_reason"] == classify.NO_BASELINE_PLAN


def test_last_plan_before_the_onset_stands_in_for_an_unknown_baseline_plan() -> None:
    earlier = PlanSighting("aaaa", NOW - timedelta(days=2), NOW - timedelta(days=1))
    got = verdict(replace(BASE, dominant_plan_hash=None),
                  samples((30.0, 100, "bbbb", True)), earlier)
    assert got.cause is Cause.PLAN_CHANGE and got.old_plan_hash == "aaaa"


def test_waits_are_named_for_the_same_plan() -> None:
    activity = {"activity": {"Lock/transactionid": 4, "CPU": 1}}
    recent = samples((30.0, 100, "aaaa", True), (30.0, 100, "aaaa", False), extras=activity)
    got = verdict(BASE, recent)
    assert got.cause is Cause.SAME_PLAN
    assert got.details["waits"]["summary"] == (
        "waiting on Lock/transactionid 80% of the time (8 of 10 observations)")
    assert "same_work" not in got.details  # the wait is named instead


def test_a_wait_seen_too_few_times_to_name_still_rules_out_cpu() -> None:
    recent = samples((30.0, 100, "aaaa", True), extras={"activity": {"Lock/tuple": 2}})
    got = verdict(BASE, recent)
    assert "summary" not in got.details["waits"] and "same_work" not in got.details


def test_wide_recent_spread_on_a_varied_baseline_is_parameter_sensitivity() -> None:
    varied = replace(BASE, mad_ms=4.0)
    recent = samples((25.0, 100, "aaaa", True), (60.0, 100, "aaaa", False),
                     (120.0, 100, "aaaa", False))
    got = verdict(varied, recent)
    assert got.cause is Cause.PARAMETER_SENSITIVITY
    assert got.details["recent_max_min"] == 4.8
    assert got.details["baseline_mad_ratio"] == 0.4
    # The same spread on a tight baseline (MAD / median 0.15) is the same plan doing more.
    assert verdict(BASE, recent).cause is Cause.SAME_PLAN


def test_the_onset_is_the_first_slow_interval_after_the_last_calm_stretch() -> None:
    slow, normal = (30.0, 100, "aaaa", False), (10.0, 100, "aaaa", False)
    recent = samples(slow, normal, normal, slow, normal, slow, slow)
    assert classify.onset(BASE, recent, SETTINGS) == (NOW + 3 * STEP, None)  # one normal: noise
    ended = samples(slow, normal, normal)
    assert classify.onset(BASE, ended, SETTINGS) == (NOW, NOW + STEP)
    going = samples(normal, slow, normal)  # one normal after: not over yet
    assert classify.onset(BASE, going, SETTINGS) == (NOW + STEP, None)
    assert classify.onset(BASE, samples(normal), SETTINGS) is None


def test_an_index_kept_only_for_its_order_still_counts_as_lost() -> None:
    from planwatch.analysis import advice

    bitmap = PlanNode("Sort", children=(PlanNode(
        "Bitmap Heap Scan", relation="orders", children=(PlanNode(
            "Bitmap Index Scan", index="orders_customer_id_idx",
            estimates={"Index Cond": "(customer_id = $1)"}),)),))
    ordered = PlanNode("Limit", children=(PlanNode(
        "Index Scan Backward", relation="orders", index="orders_created_at_idx",
        estimates={"Filter": "(customer_id = $1)"}),))
    assert [c.describe() for c in advice.lost_indexes(bitmap, ordered)] == [
        "orders (customer_id)"]
    assert advice.lost_indexes(bitmap, bitmap) == ()
    assert advice.condition_columns("((a.status = 'x'::text) AND (created_at > $2))") == (
        "status", "created_at")


def test_a_few_observations_state_no_share() -> None:
    recent = samples((30.0, 100, "aaaa", True), extras={"activity": {"IPC/BgWorkerShutdown": 1,
                                                                      "CPU": 1}})
    got = verdict(BASE, recent)
    assert "summary" not in got.details["waits"]
    assert got.details["waits"]["observations"] == 2


def test_a_slowdown_longer_than_the_window_keeps_the_onset_its_alert_knows() -> None:
    """The whole window is slow: the slowdown began before it, so a capture made after the
    known onset but before the window still answers it."""
    recent = samples((30.0, 100, "aaaa", False), (31.0, 100, "aaaa", False))
    earlier = PlanSighting("bbbb", NOW - STEP, NOW - STEP)
    got = classify.classify(BASE, recent, settings=SETTINGS, plans=lambda ref, h: LOOKUP.get(h),
                            known=classify.PlanEvidence((earlier,), None,
                                                        NOW - 2 * STEP))
    assert got.cause is Cause.PLAN_CHANGE and got.onset == NOW - 2 * STEP
    assert verdict(BASE, recent, earlier).cause is Cause.PLAN_UNKNOWN  # without the hint


def test_calm_intervals_inside_an_alerted_slowdown_do_not_move_its_onset() -> None:
    """A setting that slows only new sessions: two calm intervals after the onset the alert
    recorded do not discard the capture made since it."""
    slow, normal = (30.0, 100, "aaaa", False), (10.0, 100, "aaaa", False)
    recent = samples(slow, normal, normal, slow, slow)
    early = PlanSighting("bbbb", NOW + STEP // 2, NOW + STEP // 2)
    got = classify.classify(BASE, recent, settings=SETTINGS, plans=lambda ref, h: LOOKUP.get(h),
                            known=classify.PlanEvidence((early,), None, NOW))
    assert got.cause is Cause.PLAN_CHANGE and got.onset == NOW
    assert verdict(BASE, recent, early).cause is Cause.PLAN_UNKNOWN  # no alert: onset moved

"""Regression detection: the recent window against the baseline (SPEC section 4).

All must hold:
- effect: recent mean (sum total / sum calls) >= min_ratio * baseline median and
  >= baseline p95 + min_abs_ms;
- evidence: >= min_calls calls in the recent window and in the baseline, baseline n >=
  min_baseline_samples, and p < p_value for "recent interval means are greater": a one-sided
  Welch t-test from summaries (recent call-weighted mean/std/n vs baseline mean/std/n). With
  a single recent interval there is no recent spread, so the test becomes the prediction test
  t = (x - mean) / (std * sqrt(1 + 1/n)) with n - 1 degrees of freedom. Standard deviations
  are floored at max(1 µs, 1% of the baseline mean) so a perfectly steady baseline cannot
  divide by zero;
- impact: (recent mean - baseline mean) * recent calls >= min_impact.

"Recent" is the whole window, or — when the window ends with a run of at least two intervals
that each meet the effect rule on their own — that run alone: a change in the middle of the
window is then judged on the intervals since it instead of being diluted by those before. The
run's evidence is each interval's prediction test combined by Fisher's method, multiplied by
the number of intervals in the window (the run was chosen for being slow; this pays for the
choice). Either passing all three rules is a regression.

Severity is critical when the ratio (recent mean / baseline median) >= critical_ratio.
Samples flagged `extras["suspect"]` (resets, evicted-and-returned entries) are ignored; a
query without baseline or with too few baseline intervals is first-seen and never regresses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from scipy import stats

from planwatch.analysis import baselines, classify
from planwatch.model.baselines import Baseline
from planwatch.model.findings import Regression, Severity
from planwatch.model.policies import RegressionSettings
from planwatch.model.samples import QueryRef, QuerySample

_MIN_MEDIAN_MS = 1e-3  # ratio denominator floor: a 0 ms median would make any ratio infinite
_MIN_STD_MS = 1e-3
_STD_FLOOR_OF_MEAN = 0.01

# Reasons a query with data produced no regression (besides being normal).
FIRST_SEEN = "first_seen"
FEW_BASELINE_SAMPLES = "few_baseline_samples"
FEW_CALLS = "few_calls"
LOW_IMPACT = "low_impact"
NOT_SIGNIFICANT = "not_significant"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One analysis window's verdicts for a set of queries.

    `suspects`: queries whose effect condition holds against a usable baseline, whatever the
    evidence or impact — each needs a fresh plan capture before its verdict.
    """

    regressions: list[Regression] = field(default_factory=list)
    normal: set[QueryRef] = field(default_factory=set)
    no_data: set[QueryRef] = field(default_factory=set)
    skipped: dict[QueryRef, str] = field(default_factory=dict)
    suspects: set[QueryRef] = field(default_factory=set)
    classified: dict[QueryRef, classify.Classification] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Verdict:
    regression: Regression | None = None
    normal: bool | None = None  # None: no calls in the window, or no baseline to compare to
    skipped: str | None = None
    classification: classify.Classification | None = None


@dataclass(frozen=True, slots=True)
class _Context:
    settings: RegressionSettings
    plans: classify.PlanLookup | None
    known: Mapping[QueryRef, classify.PlanEvidence]


def detect(
    baseline: Baseline | None,
    recent: Sequence[QuerySample],
    settings: RegressionSettings,
    *,
    plans: classify.PlanLookup | None = None,
    known: classify.PlanEvidence | None = None,
) -> Regression | None:
    """The regression of `recent` against `baseline`, or None."""
    if baseline is None:
        return None
    context = _Context(settings, plans, {baseline.ref: known} if known else {})
    return _judge(baseline.ref, baseline, recent, context).regression


def suspects(
    baselines_by_ref: Mapping[QueryRef, Baseline],
    recent: Mapping[QueryRef, Sequence[QuerySample]],
    settings: RegressionSettings,
) -> set[QueryRef]:
    """Queries with a usable baseline whose window meets the effect condition."""
    found = set()
    for ref, window in recent.items():
        baseline = baselines_by_ref.get(ref)
        if baseline is None or baseline.n < settings.min_baseline_samples:
            continue
        if is_normal(baseline, window, settings) is False:
            found.add(ref)
    return found


def is_normal(
    baseline: Baseline | None, recent: Sequence[QuerySample], settings: RegressionSettings
) -> bool | None:
    """True when the effect condition does not hold; None without calls or baseline."""
    mean = baselines.mean_ms(recent)
    if mean is None or baseline is None:
        return None
    return not _effect(baseline, mean, settings)


def evaluate(
    baselines_by_ref: Mapping[QueryRef, Baseline],
    recent: Mapping[QueryRef, Sequence[QuerySample]],
    settings: RegressionSettings,
    plans: classify.PlanLookup | None = None,
    known: Mapping[QueryRef, classify.PlanEvidence] | None = None,
) -> Evaluation:
    """Verdicts for every query with a baseline or recent samples; `known` holds the plan
    evidence of the suspects (see `suspects`), for their verdicts.

    A query can be both normal and skipped (e.g. few calls but not slower); a query whose
    effect holds without enough evidence or impact is neither normal nor a regression.
    """
    result = Evaluation()
    context = _Context(settings, plans, known or {})
    refs = sorted(baselines_by_ref.keys() | recent.keys(),
                  key=lambda r: (r.target, r.database, r.query_id, r.fingerprint))
    for ref in refs:
        verdict = _judge(ref, baselines_by_ref.get(ref), recent.get(ref, ()), context)
        if verdict.classification is not None:
            result.suspects.add(ref)
            result.classified[ref] = verdict.classification
        if verdict.regression is not None:
            result.regressions.append(verdict.regression)
        if verdict.normal:
            result.normal.add(ref)
        if verdict.skipped == "no_data":
            result.no_data.add(ref)
        elif verdict.skipped is not None:
            result.skipped[ref] = verdict.skipped
    result.regressions.sort(key=lambda r: -r.impact_ms)
    return result


def _judge(
    ref: QueryRef,
    baseline: Baseline | None,
    recent: Sequence[QuerySample],
    context: _Context,
) -> _Verdict:
    settings = context.settings
    window = baselines.summarize(recent)
    if window is None:
        return _Verdict(skipped="no_data")
    if baseline is None:
        return _Verdict(skipped=FIRST_SEEN)
    run = _slow_run(baseline, recent, settings)
    normal = not _effect(baseline, window.mean_ms, settings) and run is None
    if baseline.n < settings.min_baseline_samples:
        return _Verdict(normal=normal, skipped=FEW_BASELINE_SAMPLES)
    if normal:
        few = window.calls < settings.min_calls or baseline.calls < settings.min_calls
        return _Verdict(normal=True, skipped=FEW_CALLS if few else None)
    cls = classify.classify(baseline, recent, settings=settings, plans=context.plans,
                            known=context.known.get(ref, classify.PlanEvidence()))
    tests = [_test(baseline, window, settings, p_value(baseline, window))]
    if run is not None:  # the run was picked for being slow: pay for the choice of suffix
        tests.append(_test(baseline, run, settings, run_p_value(baseline, run) * window.n))
    passed = [t for t in tests if t.reason is None]
    if not passed:
        return _Verdict(normal=False, skipped=tests[0].reason, classification=cls)
    best = passed[-1]
    found = _regression(ref, baseline, best.stats, (best.p, best.impact), settings, cls)
    return _Verdict(found, normal=False, classification=cls)


@dataclass(frozen=True, slots=True)
class _Test:
    stats: baselines.WindowStats
    reason: str | None  # why it is no regression; None: it is one
    p: float = 1.0
    impact: float = 0.0


def _test(
    baseline: Baseline, stats: baselines.WindowStats, settings: RegressionSettings, p: float
) -> _Test:
    """Effect, evidence and impact of one set of recent intervals against the baseline."""
    if not _effect(baseline, stats.mean_ms, settings):
        return _Test(stats, "no_effect")
    if stats.calls < settings.min_calls or baseline.calls < settings.min_calls:
        return _Test(stats, FEW_CALLS)
    impact = (stats.mean_ms - baseline.mean_ms) * stats.calls
    if impact < settings.min_impact.total_seconds() * 1000:
        return _Test(stats, LOW_IMPACT, impact=impact)
    p = min(1.0, p)
    if not p < settings.p_value:
        return _Test(stats, NOT_SIGNIFICANT, p, impact)
    return _Test(stats, None, p, impact)


def _slow_run(
    baseline: Baseline, recent: Sequence[QuerySample], settings: RegressionSettings
) -> baselines.WindowStats | None:
    """The ongoing run of slow intervals at the end of the window (every one meeting the
    effect rule on its own), when it has at least two intervals: a change inside the window
    is judged on the intervals since it, not diluted by the ones before."""
    ordered = sorted(baselines.usable(recent), key=lambda s: s.interval_start)
    run: list[QuerySample] = []
    for s in reversed(ordered):
        if not _effect(baseline, s.mean_ms, settings):
            break
        run.append(s)
    if len(run) < 2 or len(run) == len(ordered):
        return None
    return baselines.summarize(run)


def _effect(baseline: Baseline, recent_mean: float, settings: RegressionSettings) -> bool:
    return (
        recent_mean >= settings.min_ratio * baseline.median_ms
        and recent_mean >= baseline.p95_ms + settings.min_abs_ms
    )


def p_value(baseline: Baseline, window: baselines.WindowStats) -> float:
    """One-sided p-value that the recent interval means are greater than the baseline's."""
    floor = max(_MIN_STD_MS, _STD_FLOOR_OF_MEAN * baseline.mean_ms)
    base_std = max(baseline.stddev_ms, floor)
    if window.n == 1:
        t = (window.mean_ms - baseline.mean_ms) / (base_std * math.sqrt(1 + 1 / baseline.n))
        return float(stats.t.sf(t, df=max(baseline.n - 1, 1)))
    result = stats.ttest_ind_from_stats(
        window.mean_ms, max(window.std_ms, floor), window.n,
        baseline.mean_ms, base_std, baseline.n,
        equal_var=False, alternative="greater",
    )
    return float(result.pvalue)


def run_p_value(baseline: Baseline, run: baselines.WindowStats) -> float:
    """One-sided p-value that every interval of the run comes from the baseline: each
    interval's prediction test (as for a single interval), combined by Fisher's method. (A
    Welch test on two or three intervals has one or two degrees of freedom and can barely
    tell 25 ms from 10 ms.)"""
    floor = max(_MIN_STD_MS, _STD_FLOOR_OF_MEAN * baseline.mean_ms)
    scale = max(baseline.stddev_ms, floor) * math.sqrt(1 + 1 / baseline.n)
    df = max(baseline.n - 1, 1)
    each = [max(float(stats.t.sf((m - baseline.mean_ms) / scale, df=df)), 1e-300)
            for m in run.means]
    return float(stats.combine_pvalues(each, method="fisher").pvalue)


def _regression(
    ref: QueryRef,
    baseline: Baseline,
    window: baselines.WindowStats,
    evidence: tuple[float, float],  # p-value, impact in ms
    settings: RegressionSettings,
    cls: classify.Classification,
) -> Regression:
    p, impact = evidence
    ratio = window.mean_ms / max(baseline.median_ms, _MIN_MEDIAN_MS)
    return Regression(
        ref=ref,
        severity=Severity.CRITICAL if ratio >= settings.critical_ratio else Severity.WARNING,
        cause=cls.cause,
        baseline_ms=baseline.median_ms,
        current_ms=window.mean_ms,
        ratio=ratio,
        p_value=p,
        impact_ms=impact,
        recent_calls=window.calls,
        baseline_calls=baseline.calls,
        old_plan_hash=cls.old_plan_hash,
        new_plan_hash=cls.new_plan_hash,
        plan_diff=cls.plan_diff,
        details=cls.details,
    )

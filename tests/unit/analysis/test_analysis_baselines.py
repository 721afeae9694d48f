"""Baselines: weighted robust statistics by hand, compute vs compute_all."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

import numpy as np
import pytest

from planwatch.analysis import baselines, weighted
from planwatch.model.baselines import Baseline
from planwatch.model.samples import QueryRef, QuerySample, SampleColumns

T0 = datetime(2024, 5, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
REF = QueryRef("pg1", "shop", "101")


def sample(i: int, mean_ms: float, calls: int, *, plan: str | None = "aaaa", ref: QueryRef = REF,
           rows: int = 0, blks: int = 0, temp: int = 0, suspect: bool = False) -> QuerySample:
    return QuerySample(
        ref=ref, interval_start=T0 + i * STEP, interval_end=T0 + (i + 1) * STEP, calls=calls,
        total_ms=mean_ms * calls, rows=rows, blks_hit=blks, blks_temp=temp, plan_hash=plan,
        extras={"suspect": True} if suspect else {},
    )


def build(samples: list[QuerySample], plan_hash: str | None = None) -> Baseline:
    got = baselines.compute(REF, samples, window_start=T0, window_end=T0 + timedelta(days=7),
                            now=T0 + timedelta(days=7), plan_hash=plan_hash)
    assert got is not None
    return got


HAND = [sample(0, 10.0, 2), sample(1, 20.0, 3), sample(2, 30.0, 4), sample(3, 100.0, 1)]


def test_weighted_statistics_match_a_hand_computation() -> None:
    # sorted means 10, 20, 30, 100 with calls 2, 3, 4, 1 (W = 10); cumulative 2, 5, 9, 10.
    b = build(HAND)
    assert b.median_ms == 20.0  # first cumulative weight >= 5
    assert b.p95_ms == 100.0  # first cumulative weight >= 9.5
    # deviations from 20: 0 (w3), 10 (w2 + w4), 80 (w1): cumulative 3, 9 -> 10
    assert b.mad_ms == 10.0
    assert b.mean_ms == 30.0  # (20 + 60 + 120 + 100) / 10
    # sum w (x - 30)^2 = 800 + 300 + 0 + 4900 = 6000; / 10 = 600; * 4/3 (n - 1 correction)
    assert b.stddev_ms == pytest.approx(math.sqrt(800.0))
    assert (b.n, b.calls) == (4, 10)


def test_quantile_boundary_is_not_pushed_by_float_rounding() -> None:
    # 20 equal-weight values 1..20: 0.95 * 20 = 19 exactly, so p95 is the 19th value.
    group, calls = np.zeros(20, dtype=np.int64), np.ones(20, dtype=np.int64)
    stats = weighted.group_stats(group, 1, calls, np.arange(1.0, 21.0))
    assert stats.p95[0] == 19.0


def test_weighted_median_follows_the_calls() -> None:
    assert build([sample(0, 10.0, 1), sample(1, 20.0, 1)]).median_ms == 10.0
    assert build([sample(0, 10.0, 1), sample(1, 20.0, 2)]).median_ms == 20.0


def test_per_call_resources_and_dominant_plan() -> None:
    b = build([sample(0, 1.0, 10, plan="bbbb", rows=50, blks=200, temp=0),
               sample(1, 1.0, 30, plan="aaaa", rows=50, blks=200, temp=40),
               sample(2, 1.0, 20, plan="bbbb", rows=20, blks=0, temp=0)])
    assert b.dominant_plan_hash == "aaaa"  # 30 calls vs 10 + 20 = 30: tie -> smallest hash
    assert b.rows_per_call == pytest.approx(120 / 60)
    assert b.blks_per_call == pytest.approx(400 / 60)
    assert b.temp_blks_per_call == pytest.approx(40 / 60)


def test_compute_skips_suspect_idle_and_out_of_window_samples() -> None:
    samples = [sample(0, 10.0, 5), sample(1, 500.0, 5, suspect=True), sample(2, 99.0, 0),
               sample(-1, 700.0, 5), sample(3, 12.0, 5, plan="bbbb")]
    b = build(samples)
    assert (b.n, b.calls, b.mean_ms) == (2, 10, 11.0)
    per_plan = build(samples, plan_hash="bbbb")
    assert (per_plan.n, per_plan.median_ms, per_plan.plan_hash) == (1, 12.0, "bbbb")
    assert per_plan.dominant_plan_hash == "bbbb"
    assert baselines.compute(REF, [sample(1, 500.0, 5, suspect=True)], window_start=T0,
                             window_end=T0 + timedelta(days=1), now=T0) is None


def _columns(samples: list[QuerySample], refs: tuple[QueryRef, ...]) -> SampleColumns:
    ordered = sorted(samples, key=lambda s: refs.index(s.ref))
    return SampleColumns(
        refs=refs,
        query_index=np.array([refs.index(s.ref) for s in ordered]),
        calls=np.array([s.calls for s in ordered]),
        total_ms=np.array([s.total_ms for s in ordered]),
        rows=np.array([s.rows for s in ordered]),
        blks=np.array([s.blks_hit + s.blks_read for s in ordered]),
        blks_temp=np.array([s.blks_temp for s in ordered]),
        plan_hash=[s.plan_hash for s in ordered],
    )


def test_compute_all_equals_compute_per_query_and_per_plan() -> None:
    rng = np.random.default_rng(7)
    refs = tuple(QueryRef("pg1", "shop", str(q)) for q in range(5))
    plans_of: dict[int, list[str | None]] = {
        0: ["aaaa"], 1: ["aaaa", "bbbb"], 2: [None], 3: ["cccc", None], 4: ["dddd"]}
    samples = [
        sample(i, float(rng.lognormal(q, 0.5)), int(rng.integers(0, 40)), ref=ref,
               plan=plans_of[q][(i // 50) % len(plans_of[q])], rows=int(rng.integers(0, 9)),
               blks=int(rng.integers(0, 99)), temp=int(rng.integers(0, 3)))
        for q, ref in enumerate(refs) for i in range(300)
    ]
    end = T0 + timedelta(days=7)
    got = {(b.ref, b.plan_hash): b for b in baselines.compute_all(
        _columns(samples, refs), window_start=T0, window_end=end, now=T0)}
    expected = {}
    for q, ref in enumerate(refs):
        mine = [s for s in samples if s.ref == ref]
        for plan in [None, *(p for p in plans_of[q] if p is not None)]:
            expected[(ref, plan)] = baselines.compute(ref, mine, plan_hash=plan, window_start=T0,
                                                      window_end=end, now=T0)
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        have = got[key]
        assert want is not None
        assert (have.n, have.calls, have.median_ms, have.p95_ms, have.mad_ms) == (
            want.n, want.calls, want.median_ms, want.p95_ms, want.mad_ms)
        assert have.dominant_plan_hash == want.dominant_plan_hash
        for name in ("mean_ms", "stddev_ms", "rows_per_call", "blks_per_call",
                     "temp_blks_per_call"):
            assert getattr(have, name) == pytest.approx(getattr(want, name)), name


def test_compute_all_on_a_fleet_sized_week() -> None:
    queries, intervals = 2000, 2016
    rng = np.random.default_rng(0)
    qi = np.repeat(np.arange(queries), intervals)
    calls = rng.integers(0, 200, qi.size)
    means = np.repeat(rng.lognormal(0, 1.5, queries), intervals) * rng.lognormal(0, 0.3, qi.size)
    plan = np.array([f"{q:016x}" for q in range(queries)], dtype=object)[qi]
    plan[(qi % 100 == 0) & (np.arange(qi.size) % intervals >= intervals // 2)] = "f" * 16
    refs = tuple(QueryRef("pg1", "shop", str(q)) for q in range(queries))
    columns = SampleColumns(refs, qi, calls, calls * means, calls, calls * 4,
                            np.zeros(qi.size), cast(Sequence[str | None], plan))
    built = baselines.compute_all(columns, window_start=T0, window_end=T0, now=T0)
    all_plans = [b for b in built if b.plan_hash is None]
    assert len(all_plans) == queries
    assert len(built) == queries + queries + queries // 100  # 20 queries changed plan
    assert all(b.median_ms <= b.p95_ms and b.n > 1900 for b in all_plans)
    assert all_plans[0].dominant_plan_hash in {"0" * 16, "f" * 16}


def test_compute_all_without_calls_is_empty() -> None:
    columns = _columns([sample(0, 1.0, 0)], (REF,))
    assert baselines.compute_all(columns, window_start=T0, window_end=T0, now=T0) == []


def _naive_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The rule written out: first sorted value whose cumulative weight reaches q * W."""
    order = np.argsort(values, kind="stable")
    cumulative = 0
    for i in order:
        cumulative += int(weights[i])
        if cumulative >= q * weights.sum() - 1e-9:
            return float(values[i])
    raise AssertionError("unreachable")


@pytest.mark.parametrize("kind", ["ties", "nearly_equal", "spread"])
def test_grouped_statistics_match_the_rule_written_out(kind: str) -> None:
    rng = np.random.default_rng({"ties": 1, "nearly_equal": 2, "spread": 3}[kind])
    for _ in range(40):
        n_groups = int(rng.integers(1, 6))
        size = int(rng.integers(n_groups, 50))
        group = np.concatenate([np.arange(n_groups), rng.integers(0, n_groups, size - n_groups)])
        rng.shuffle(group)
        calls = rng.integers(1, 5, size)
        means = {"ties": rng.integers(0, 4, size).astype(float),
                 # clusters of nearly equal values far apart: equal sort keys, exact fallback
                 "nearly_equal": rng.integers(0, 4, size) * 1e6 + rng.random(size) * 1e-9,
                 "spread": rng.lognormal(0, 2, size)}[kind]
        stats = weighted.group_stats(group, n_groups, calls, means * calls)
        for g in range(n_groups):
            x, w = (means * calls)[group == g] / calls[group == g], calls[group == g]
            median = _naive_quantile(x, w, 0.5)
            assert stats.median[g] == median
            assert stats.p95[g] == _naive_quantile(x, w, 0.95)
            assert stats.mad[g] == _naive_quantile(np.abs(x - median), w, 0.5)


def test_compute_all_without_any_known_plan() -> None:
    columns = _columns([sample(i, 5.0 + i, 10, plan=None) for i in range(4)], (REF,))
    (only,) = baselines.compute_all(columns, window_start=T0, window_end=T0, now=T0)
    assert (only.plan_hash, only.dominant_plan_hash, only.n, only.median_ms) == (None, None, 4, 6.0)


def test_mean_ms_is_the_summary_mean_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    window = [sample(i, float(rng.lognormal(0, 2)), int(rng.integers(0, 50)),
                     suspect=i % 7 == 0) for i in range(40)]
    stats = baselines.summarize(window)
    assert stats is not None
    assert baselines.mean_ms(window) == stats.mean_ms  # the same float sum, not just close
    assert baselines.mean_ms([sample(0, 5.0, 0), sample(1, 9.0, 3, suspect=True)]) is None
    assert baselines.mean_ms([]) is None

"""Learning baselines: grown every run from clean samples, suspect batches held out, and a
query that changed for good while learning starts over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from planwatch.analysis import learning
from planwatch.model.baselines import Baseline
from planwatch.model.policies import RegressionSettings
from planwatch.model.samples import QueryRef, QuerySample

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=5)
REF = QueryRef("pg1", "shop", "101")
SETTINGS = RegressionSettings(window=timedelta(seconds=30))


def partial(n: int, built_at: datetime = T0) -> Baseline:
    return Baseline(REF, None, T0 - timedelta(days=7), built_at, n, n * 20, 10.0, 12.0, 0.5,
                    10.2, 1.0, built_at)


def batch(*means: float, start: datetime = T0, held: bool = False) -> list[QuerySample]:
    return [QuerySample(REF, start + i * STEP, start + (i + 1) * STEP, 20, m * 20,
                        held_out=held) for i, m in enumerate(means)]


def test_a_new_query_and_a_growing_one_are_rebuilt() -> None:
    got = learning.decide({}, {REF: batch(10.0)}, SETTINGS, T0)
    assert got.rebuild == {REF} and got.hold == []
    got = learning.decide({REF: partial(5)}, {REF: batch(10.1, 9.9)}, SETTINGS, T0 + STEP)
    assert got.rebuild == {REF}


def test_a_usable_baseline_is_left_to_the_nightly_rebuild() -> None:
    got = learning.decide({REF: partial(12)}, {REF: batch(50.0, 50.0)}, SETTINGS, T0)
    assert got == learning.Decisions()


def test_a_clearly_slower_batch_is_held_out_not_folded_in() -> None:
    slow = batch(60.0, 61.0)
    got = learning.decide({REF: partial(6)}, {REF: slow}, SETTINGS, T0 + 2 * STEP)
    assert got.rebuild == set()
    assert got.hold == [(REF, s.interval_start) for s in slow]


def test_too_little_learned_to_judge_folds_everything_in() -> None:
    got = learning.decide({REF: partial(2)}, {REF: batch(60.0, 61.0)}, SETTINGS, T0)
    assert got.rebuild == {REF} and got.hold == []


def test_only_samples_after_the_last_growth_and_not_held_out_count() -> None:
    window = batch(10.0, 10.0, start=T0 - 2 * STEP) + batch(60.0, start=T0, held=True)
    assert learning.decide({REF: partial(6)}, {REF: window}, SETTINGS, T0 + STEP) == (
        learning.Decisions())


def test_held_out_for_long_enough_means_the_query_changed_for_good() -> None:
    patience = SETTINGS.window * SETTINGS.resolve_after_windows
    since = T0
    assert learning.restarts({REF: since}, SETTINGS, since + patience - STEP) == {}
    assert learning.restarts({REF: since}, SETTINGS, since + patience) == {REF: since}


def test_progress() -> None:
    assert learning.progress(None, SETTINGS) == learning.Progress(0, 12)
    assert learning.progress(partial(12), SETTINGS).learning is False
    assert learning.is_learning(partial(11), SETTINGS)

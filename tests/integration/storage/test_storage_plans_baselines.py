"""plans and baselines: one row per natural key, history and lookups."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from planwatch.model.baselines import Baseline
from planwatch.model.samples import CapturedPlan, QueryRef
from planwatch.storage import baselines, plans, queries
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
A = QueryRef("pg1", "shop", "101", "fp-a")
B = QueryRef("pg1", "shop", "202", "fp-b")


def plan(ref: QueryRef, plan_hash: str, at: datetime, raw: str = "{}") -> CapturedPlan:
    return CapturedPlan(ref, plan_hash, f'{{"op": "{plan_hash}"}}', raw, at, engine_plan_hash=None)


def test_plans_round_trip_and_history(storage: Storage) -> None:
    index_scan = plan(A, "h-index", T0)
    seq_scan = replace(plan(A, "h-seq", T0 + timedelta(hours=1)), engine_plan_hash="123")
    plans.upsert(storage, [index_scan, seq_scan, plan(B, "h-b", T0)])
    again = plan(A, "h-index", T0 + timedelta(hours=2), raw='{"new": true}')
    plans.upsert(storage, [again])

    assert plans.get(storage, A, "h-seq") == seq_scan
    got = plans.get(storage, A, "h-index")
    assert got is not None
    assert got.captured_at == T0 and got.raw == '{"new": true}'  # first capture time kept
    assert plans.get(storage, A, "nope") is None
    assert [p.plan_hash for p in plans.for_query(storage, A)] == ["h-index", "h-seq"]
    assert plans.last_captured(storage, "pg1") == {
        ("shop", "101"): T0 + timedelta(hours=2),
        ("shop", "202"): T0,
    }
    assert plans.last_captured(storage, "pg2") == {}
    assert queries.known(storage, "pg1") == {("shop", "101"), ("shop", "202")}


def baseline(ref: QueryRef, plan_hash: str | None, median: float) -> Baseline:
    return Baseline(
        ref=ref,
        plan_hash=plan_hash,
        window_start=T0 - timedelta(days=7),
        window_end=T0,
        n=2016,
        calls=50_000,
        median_ms=median,
        p95_ms=median * 2,
        mad_ms=0.5,
        mean_ms=median * 1.1,
        stddev_ms=0.7,
        computed_at=T0,
        dominant_plan_hash="h1",
        rows_per_call=1.5,
        blks_per_call=4.0,
        temp_blks_per_call=0.0,
    )


def test_baselines_replace_load_and_per_plan(storage: Storage) -> None:
    baselines.replace(
        storage, [baseline(A, None, 1.0), baseline(A, "h1", 0.9), baseline(B, None, 3)]
    )
    newer = replace(baseline(A, None, 2.0), computed_at=T0 + timedelta(days=1))
    baselines.replace(storage, [newer])

    loaded = baselines.load(storage)
    assert loaded == {A: newer, B: baseline(B, None, 3)}
    assert baselines.load(storage, "pg1") == loaded
    assert baselines.load(storage, "pg2") == {}
    assert baselines.for_query(storage, A) == [newer, baseline(A, "h1", 0.9)]


def test_baseline_times_come_back_exact_and_utc(storage: Storage) -> None:
    """Baselines are read with their times raw (PostgreSQL: epoch microseconds): every field
    comes back equal, the times aware UTC to the microsecond, before 1970 too."""
    odd = replace(baseline(A, None, 1.0),
                  window_start=datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
                  window_end=datetime(2038, 1, 19, 3, 14, 7, 1, tzinfo=UTC),
                  computed_at=datetime(2026, 3, 1, 12, 0, 0, 123_456, tzinfo=UTC),
                  dominant_plan_hash=None)
    baselines.replace(storage, [odd, baseline(B, None, 3)])
    loaded = baselines.load(storage, "pg1")
    assert loaded == {A: odd, B: baseline(B, None, 3)}
    assert all(t.tzinfo is UTC for x in loaded.values()
               for t in (x.window_start, x.window_end, x.computed_at))

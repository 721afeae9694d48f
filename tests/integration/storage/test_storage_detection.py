"""Storage of the detection pieces: plan requests, held-out samples, learning baselines,
plan context and sightings, and query lineage (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from planwatch.model.baselines import Baseline
from planwatch.model.plans import IndexCandidate, PlanAttempt, PlanRequest
from planwatch.model.samples import CapturedPlan, QueryRef, QuerySample
from planwatch.storage import baselines, lineage, plan_requests, plans, queries, samples
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=1)
A = QueryRef("pg1", "shop", "101", "fp-a")
B = QueryRef("pg1", "shop", "202", "fp-b")


def sample(ref: QueryRef, i: int, mean: float = 2.0, calls: int = 10) -> QuerySample:
    start = T0 + i * STEP
    return QuerySample(ref, start, start + STEP, calls, mean * calls, plan_hash="h1")


def test_plan_requests_are_pending_until_attempted_and_keep_the_failure(
    storage: Storage,
) -> None:
    candidate = IndexCandidate("orders", ("customer_id",))
    plan_requests.request(storage, [
        PlanRequest("pg1", "shop", "101", T0, "suspect"),
        PlanRequest("pg1", "shop", "202", T0, "index_advice", (candidate,)),
        PlanRequest("pg2", "crm", "9", T0),
    ])
    pending = plan_requests.pending(storage, "pg1", T0 - STEP)
    assert [(r.query_id, r.reason, r.candidates) for r in pending] == [
        ("101", "suspect", ()), ("202", "index_advice", (candidate,))]
    attempts = [PlanAttempt("shop", "101", T0 + STEP, "h2", requested=True),
                PlanAttempt("shop", "202", T0 + STEP, None, "permission denied", True),
                PlanAttempt("shop", "303", T0 + STEP, "h3")]  # not asked for: ignored
    plan_requests.record(storage, "pg1", attempts)
    assert plan_requests.pending(storage, "pg1", T0 - STEP) == []
    failed = plan_requests.for_target(storage, "pg1")
    assert list(failed) == [("shop", "202")]
    assert failed[("shop", "202")].error == "permission denied"
    # Asked again: pending again, the last failure kept until the next attempt.
    plan_requests.request(storage, [PlanRequest("pg1", "shop", "202", T0 + 2 * STEP)])
    [again] = plan_requests.pending(storage, "pg1", T0 - STEP)
    assert again.error == "permission denied" and again.candidates == ()
    assert plan_requests.pending(storage, "pg2", T0) == []  # older than wanted: not served
    assert plan_requests.expire(storage, T0 + STEP) == 1  # pg2's, never renewed
    assert plan_requests.pending(storage, "pg2", T0 - STEP) == []


def test_held_out_samples_stay_out_of_baseline_columns(storage: Storage) -> None:
    samples.insert(storage, [sample(A, i) for i in range(6)] + [sample(B, i) for i in range(6)])
    assert samples.hold_out(storage, [(A, T0 + 4 * STEP), (A, T0 + 5 * STEP)]) == 2
    cols = samples.columns(storage, since=T0 - STEP, until=T0 + 10 * STEP, target="pg1")
    assert len(cols.calls) == 10
    narrowed = samples.columns(storage, since=T0 - STEP, until=T0 + 10 * STEP, target="pg1",
                               query_ids={"101"})
    assert [r.query_id for r in narrowed.refs] == ["101"] and len(narrowed.calls) == 4
    window = samples.window(storage, "pg1", T0, T0 + 10 * STEP)
    assert sum(s.held_out for s in window) == 2
    assert samples.first_held_out(storage, {A: T0, B: T0}) == {A: T0 + 4 * STEP}
    samples.restart_from(storage, A, T0 + 4 * STEP)  # behaviour changed for good at 4
    window = samples.window(storage, "pg1", T0, T0 + 10 * STEP)
    assert [s.interval_start for s in window if s.ref == A and s.held_out] == [
        T0 + i * STEP for i in range(4)]


def base(ref: QueryRef, n: int, plan_hash: str | None = None) -> Baseline:
    return Baseline(ref, plan_hash, T0 - timedelta(days=7), T0, n, 100, 2.0, 3.0, 0.1, 2.1,
                    0.2, T0, dominant_plan_hash="h1")


def test_replace_for_makes_a_querys_baselines_exactly_the_new_ones(storage: Storage) -> None:
    baselines.replace(storage, [base(A, 5), base(A, 5, "h-old"), base(B, 20)])
    baselines.replace_for(storage, [A], [base(A, 7), base(A, 7, "h1")])
    assert [(b.plan_hash, b.n) for b in baselines.for_query(storage, A)] == [(None, 7),
                                                                          ("h1", 7)]
    baselines.replace_for(storage, [A], [])  # nothing clean left: no baseline
    assert baselines.for_query(storage, A) == []
    assert baselines.load(storage, "pg1")[B].n == 20


def test_plan_context_and_sightings(storage: Storage) -> None:
    context = {"role": "app", "settings": {"work_mem": "64kB"}}
    plans.upsert(storage, [
        CapturedPlan(A, "h1", "{}", "{}", T0),
        CapturedPlan(A, "h2", "{}", "{}", T0 + STEP, context=context),
        CapturedPlan(A, "h1", "{}", "{}", T0 + 2 * STEP),
    ])
    seen = plans.sightings(storage, A)
    assert [(p.plan_hash, p.first_seen, p.last_seen) for p in seen] == [
        ("h1", T0, T0 + 2 * STEP), ("h2", T0 + STEP, T0 + STEP)]
    assert seen[1].context == context
    got = plans.get(storage, A, "h2")
    assert got is not None and got.context == context


def collect(storage: Storage, ref: QueryRef, intervals: range) -> None:
    """One write per interval, as collections do."""
    for i in intervals:
        samples.insert(storage, [sample(ref, i)])


def test_a_query_whose_id_changed_inherits_its_baseline_and_history(storage: Storage) -> None:
    old = QueryRef("pg1", "shop", "111", "same-text")
    new = QueryRef("pg1", "shop", "999", "same-text")
    live = QueryRef("pg1", "shop", "555", "same-text")
    collect(storage, old, range(5))
    baselines.replace(storage, [base(old, 12), base(old, 12, "h1")])
    collect(storage, new, range(6, 8))  # after the old one stopped
    now = T0 + 10 * STEP
    unknown = QueryRef("pg1", "shop", "777", "same-text")
    assert lineage.inherit(storage, "pg1", [unknown], now) == {}  # links only what is asked
    assert lineage.inherit(storage, "pg1", [new], now) == {new: QueryRef(
        "pg1", "shop", "111", "same-text")}
    inherited = baselines.for_query(storage, new)
    assert [(b.plan_hash, b.n) for b in inherited] == [(None, 12), ("h1", 12)]
    history = samples.for_query(storage, new, T0 - STEP, now)
    assert len(history) == 7 and {s.ref for s in history} == {new}
    assert lineage.inherit(storage, "pg1", [new], now) == {}  # linked once
    # A query with the same text that overlaps in time is another statement: never merged.
    collect(storage, live, range(3, 9))
    assert lineage.inherit(storage, "pg1", [live], now) == {}
    assert queries.text_of(storage, live) is None

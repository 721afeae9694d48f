"""queries and samples: identity upserts, idempotent sample writes, window and columnar reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from planwatch.model.samples import QueryRef, QuerySample, StatementText
from planwatch.storage import queries, samples
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
A = QueryRef("pg1", "shop", "101", "fp-a")
B = QueryRef("pg1", "shop", "202", "fp-b")
C = QueryRef("pg2", "crm", "101", "fp-c")


def sample(
    ref: QueryRef, i: int, *, calls: int = 10, total_ms: float = 50.0, plan: str | None = "p1"
) -> QuerySample:
    start = T0 + i * STEP
    return QuerySample(
        ref,
        start,
        start + STEP,
        calls,
        total_ms,
        rows=calls * 2,
        blks_hit=7,
        blks_read=3,
        blks_temp=1,
        plan_hash=plan,
    )


def test_query_upsert_keeps_first_seen_and_moves_last_seen(storage: Storage) -> None:
    ids = queries.upsert(storage, [A, B], T0)
    renamed = QueryRef(A.target, A.database, A.query_id, "fp-new")
    again = queries.upsert(storage, [renamed], T0 + STEP)
    assert list(again.values()) == [ids[A]]
    older = queries.upsert(storage, [B], T0 - STEP)  # an out-of-order report never moves back
    assert older[B] == ids[B]
    assert queries.known(storage, "pg1") == {("shop", "101"), ("shop", "202")}
    assert queries.known(storage, "pg2") == set()

    samples.insert(storage, [sample(renamed, 0), sample(B, 0)])
    [a, b] = sorted(
        queries.top(storage, target="pg1", since=T0, until=T0 + STEP), key=lambda s: s.ref.query_id
    )
    assert a.ref.fingerprint == "fp-new"
    assert (a.first_seen, a.last_seen) == (T0, T0 + STEP)
    # B was seen again at T0 + STEP, within LAST_SEEN_GRAIN of the T0 already stored
    assert (b.first_seen, b.last_seen) == (T0, T0)  # first report wins
    later = T0 + queries.LAST_SEEN_GRAIN
    queries.upsert(storage, [B], later)
    [b] = [x for x in queries.top(storage, target="pg1", since=T0, until=T0 + STEP)
           if x.ref == B]
    assert b.last_seen == later


def test_texts(storage: Storage) -> None:
    queries.upsert(storage, [A], T0)
    queries.set_texts(storage, [StatementText(A, "SELECT 1"), StatementText(C, "SELECT $1")], T0)
    queries.set_texts(storage, [StatementText(A, "SELECT 2")], T0)
    assert queries.text_of(storage, A) == "SELECT 2"
    assert queries.text_of(storage, C) == "SELECT $1"
    assert queries.text_of(storage, B) is None
    assert queries.known(storage, "pg2") == {("crm", "101")}


def test_sample_insert_is_idempotent_and_updates_in_place(storage: Storage) -> None:
    batch = [sample(QueryRef("pg1", "shop", str(q)), i) for q in range(200) for i in range(5)]
    assert samples.insert(storage, batch) == 1000
    assert samples.insert(storage, batch) == 1000
    until = T0 + 10 * STEP
    assert len(samples.window(storage, "pg1", T0, until)) == 1000

    ref = QueryRef("pg1", "shop", "7")
    samples.insert(storage, [sample(ref, 2, calls=99, total_ms=990.0, plan="p2")])
    rows = samples.for_query(storage, ref, T0, until)
    assert [r.calls for r in rows] == [10, 10, 99, 10, 10]
    assert rows[2].plan_hash == "p2" and rows[2].mean_ms == 10.0
    assert len(samples.window(storage, "pg1", T0, until)) == 1000


def test_sample_round_trip_and_window_bounds(storage: Storage) -> None:
    s0 = QuerySample(
        A,
        T0,
        T0 + STEP,
        4,
        10.0,
        rows=8,
        blks_hit=1,
        blks_read=2,
        blks_temp=3,
        plan_hash=None,
        extras={"wal_bytes": 12, "toplevel": True},
    )
    samples.insert(storage, [s0, sample(A, 1), sample(A, 2), sample(C, 1)])
    [back] = samples.for_query(storage, A, T0, T0 + STEP)
    assert back == s0 and back.extras == s0.extras
    # interval_end > since and <= until
    assert [s.interval_start for s in samples.window(storage, "pg1", T0 + STEP, T0 + 3 * STEP)] == [
        T0 + STEP,
        T0 + 2 * STEP,
    ]
    assert [s.ref for s in samples.window(storage, "pg2", T0, T0 + 9 * STEP)] == [C]
    assert samples.latest_interval_end(storage, "pg1") == T0 + 3 * STEP
    assert samples.latest_interval_end(storage, "nobody") is None


def test_window_times_keep_every_microsecond(storage: Storage) -> None:
    """PostgreSQL hands the window's times over as microseconds since the epoch: every time
    comes back exact, whatever its microseconds, across years and before 1970 too."""
    starts = [datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
              datetime(2026, 3, 1, 12, 0, 0, 1, tzinfo=UTC),
              datetime(2038, 1, 19, 3, 14, 7, 999_999, tzinfo=UTC),
              datetime(2099, 12, 31, 23, 59, 58, 500_000, tzinfo=UTC)]
    batch = [QuerySample(A, at, at + timedelta(microseconds=i * 7 + 1), 1, 1.0)
             for i, at in enumerate(starts)]
    samples.insert(storage, batch)
    back = samples.window(storage, "pg1", starts[0] - STEP, starts[-1] + STEP)
    assert [(x.interval_start, x.interval_end) for x in back] == [
        (x.interval_start, x.interval_end) for x in batch]
    assert all(x.interval_start.tzinfo is UTC for x in back)


def test_window_reads_each_samples_ref_and_extras(storage: Storage) -> None:
    """The window reads extras as text (parsing only non-empty documents) and each query's
    ref once: every sample comes back equal, with its own query's ref and extras."""
    renamed = QueryRef("pg1", "shop", "303", "fp-é")
    batch = [
        sample(A, 0), sample(B, 0), sample(renamed, 0),
        QuerySample(A, T0 + STEP, T0 + 2 * STEP, 3, 1.5, extras={"suspect": "reset"}),
        QuerySample(B, T0 + STEP, T0 + 2 * STEP, 3, 1.5,
                    extras={"plan_observed": True, "waits": {"IO": 2, "Lock": 0.5}, "s": "{}"}),
    ]
    samples.insert(storage, batch)
    back = samples.window(storage, "pg1", T0, T0 + 2 * STEP)
    key = {(x.ref, x.interval_start): x for x in batch}
    assert len(back) == len(batch)
    for x in back:
        assert x == key[(x.ref, x.interval_start)]
        assert x.extras == key[(x.ref, x.interval_start)].extras
    assert {x.ref.fingerprint for x in back if x.ref.query_id == "303"} == {"fp-é"}
    by_query = {x.ref.query_id: x.ref for x in back}
    assert all(x.ref is by_query[x.ref.query_id] for x in back)  # one object per query


def test_columns_are_grouped_by_query(storage: Storage) -> None:
    batch = [sample(B, i, calls=i + 1, total_ms=2.0 * (i + 1), plan="pb") for i in range(3)]
    batch += [sample(A, i, calls=10, total_ms=100.0, plan=None) for i in (2, 0, 1)]
    batch += [sample(C, 0, calls=5, total_ms=5.0)]
    samples.insert(storage, batch)

    cols = samples.columns(storage, since=T0, until=T0 + 10 * STEP, target="pg1")
    assert sorted(cols.refs, key=lambda r: r.query_id) == [A, B]
    assert len(cols.refs) == 2
    idx = cols.query_index
    assert list(idx) == sorted(idx) and len(idx) == 6
    by_ref = {cols.refs[i]: [] for i in range(2)}  # type: dict[QueryRef, list[int]]
    for row, i in enumerate(idx):
        by_ref[cols.refs[i]].append(row)
    b_rows = by_ref[B]
    assert sorted(
        zip(
            cols.calls[b_rows].tolist(),
            cols.total_ms[b_rows].tolist(),
            cols.rows[b_rows].tolist(),
            cols.blks[b_rows].tolist(),
            cols.blks_temp[b_rows].tolist(),
            strict=True,
        )
    ) == [(1, 2.0, 2, 10, 1), (2, 4.0, 4, 10, 1), (3, 6.0, 6, 10, 1)]
    assert [cols.plan_hash[r] for r in b_rows] == ["pb"] * 3
    assert [cols.plan_hash[r] for r in by_ref[A]] == [None] * 3
    assert cols.calls.dtype == np.int64 and cols.total_ms.dtype == np.float64

    everything = samples.columns(storage, since=T0, until=T0 + 10 * STEP)
    assert len(everything.refs) == 3 and len(everything.calls) == 7
    narrow = samples.columns(storage, since=T0 + STEP, until=T0 + 2 * STEP)
    assert len(narrow.calls) == 2
    empty = samples.columns(storage, since=T0, until=T0 + STEP, target="nobody")
    assert empty.refs == () and len(empty.calls) == 0


def test_top_ranks_by_total_time(storage: Storage) -> None:
    samples.insert(
        storage, [sample(A, i, calls=10, total_ms=10.0, plan=f"p{i % 2}") for i in range(4)]
    )
    samples.insert(storage, [sample(B, i, calls=1, total_ms=100.0, plan="x") for i in range(2)])
    samples.insert(storage, [sample(C, 0, calls=1, total_ms=1000.0)])
    queries.set_texts(storage, [StatementText(B, "SELECT b")], T0)

    top = queries.top(storage, target="pg1", since=T0, until=T0 + 10 * STEP)
    assert [t.ref.query_id for t in top] == ["202", "101"]
    b, a = top
    assert (b.calls, b.total_ms, b.mean_ms, b.rows, b.plan_count, b.text) == (
        2,
        200.0,
        100.0,
        4,
        1,
        "SELECT b",
    )
    assert (a.calls, a.total_ms, a.mean_ms, a.plan_count, a.last_plan_hash) == (
        40,
        40.0,
        1.0,
        2,
        "p1",
    )
    assert [
        t.ref for t in queries.top(storage, target=None, since=T0, until=T0 + 10 * STEP, limit=2)
    ] == [C, B]
    assert queries.top(storage, target="pg1", since=T0 + 9 * STEP, until=T0 + 10 * STEP) == []

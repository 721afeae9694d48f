"""Delta rules of engines.md §1.5 with literal counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from planwatch.collectors import deltas
from planwatch.collectors.deltas import Entry, EntryKey, QueryKey, ServerIdentity, Snapshot
from planwatch.model.samples import QueryRef

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
T2 = T1 + timedelta(minutes=5)
STARTED = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
SERVER = ServerIdentity(started=STARTED, stats_reset=STARTED, dealloc=0)
A = EntryKey(dbid=5, userid=10, queryid=111, toplevel=True)
A_OTHER_USER = EntryKey(dbid=5, userid=11, queryid=111, toplevel=True)
A_NESTED = EntryKey(dbid=5, userid=10, queryid=111, toplevel=False)
B = EntryKey(dbid=5, userid=10, queryid=222, toplevel=True)


def entry(calls: int, ms: float, *, since: datetime | None = None, **more: float) -> Entry:
    return Entry("shop", {"calls": calls, "total_exec_time": ms, **more}, since)


def snap(at: datetime, entries: dict[EntryKey, Entry], server: ServerIdentity = SERVER) -> Snapshot:
    return Snapshot(at, server, entries)


def test_first_poll_gives_no_samples_and_becomes_the_baseline() -> None:
    cur = snap(T0, {A: entry(10, 50.0)})
    result = deltas.compute(None, cur)
    assert result.first_poll and result.deltas == {}
    assert result.baseline is cur


def test_delta_is_current_minus_previous() -> None:
    prev = snap(T0, {A: entry(10, 50.0, rows=100)})
    result = deltas.compute(prev, snap(T1, {A: entry(15, 80.0, rows=160)}))
    assert result.deltas == {QueryKey("shop", 111): {"calls": 5, "total_exec_time": 30.0,
                                                      "rows": 60}}
    assert not (result.first_poll or result.reset or result.restarted)


def test_zero_calls_produce_no_sample() -> None:
    prev = snap(T0, {A: entry(10, 50.0)})
    assert deltas.compute(prev, snap(T1, {A: entry(10, 50.0)})).deltas == {}


def test_entries_of_one_query_are_summed_over_users_and_toplevel() -> None:
    prev = snap(T0, {A: entry(10, 50.0), A_OTHER_USER: entry(1, 1.0), A_NESTED: entry(0, 0.0)})
    cur = snap(T1, {A: entry(12, 60.0), A_OTHER_USER: entry(4, 7.0), A_NESTED: entry(3, 3.0)})
    result = deltas.compute(prev, cur)
    assert result.deltas == {QueryKey("shop", 111): {"calls": 8, "total_exec_time": 19.0}}


def test_stats_reset_gives_no_samples_and_rebaselines() -> None:
    prev = snap(T0, {A: entry(10, 50.0)})
    reset = ServerIdentity(started=STARTED, stats_reset=T0 + timedelta(minutes=1), dealloc=0)
    cur = snap(T1, {A: entry(30, 90.0)}, reset)
    result = deltas.compute(prev, cur)
    assert result.reset and not result.restarted and result.deltas == {}
    later = deltas.compute(result.baseline, snap(T2, {A: entry(31, 91.0)}, reset))
    assert later.deltas == {QueryKey("shop", 111): {"calls": 1, "total_exec_time": 1.0}}


def test_server_restart_gives_no_samples() -> None:
    prev = snap(T0, {A: entry(10, 50.0)})
    restarted = ServerIdentity(started=T0 + timedelta(minutes=2), stats_reset=STARTED)
    result = deltas.compute(prev, snap(T1, {A: entry(12, 55.0)}, restarted))
    assert result.restarted and not result.reset and result.deltas == {}


def test_counters_going_down_rebaseline_only_that_entry() -> None:
    prev = snap(T0, {A: entry(10, 50.0), B: entry(5, 5.0)})
    cur = snap(T1, {A: entry(2, 4.0), B: entry(6, 6.0)})
    result = deltas.compute(prev, cur)
    assert result.rebaselined == 1
    assert result.deltas == {QueryKey("shop", 222): {"calls": 1, "total_exec_time": 1.0}}
    later = deltas.compute(result.baseline, snap(T2, {A: entry(3, 5.0), B: entry(6, 6.0)}))
    assert later.deltas == {QueryKey("shop", 111): {"calls": 1, "total_exec_time": 1.0}}


def test_any_negative_counter_rebaselines_even_when_calls_grew() -> None:
    prev = snap(T0, {A: entry(10, 50.0, shared_blks_hit=900)})
    result = deltas.compute(prev, snap(T1, {A: entry(12, 51.0, shared_blks_hit=20)}))
    assert result.deltas == {} and result.rebaselined == 1


def test_pg17_stats_since_change_means_recreated_entry() -> None:
    prev = snap(T0, {A: entry(10, 50.0, since=STARTED)})
    cur = snap(T1, {A: entry(11, 60.0, since=T0 + timedelta(minutes=3))})
    result = deltas.compute(prev, cur)
    assert result.deltas == {} and result.rebaselined == 1


def test_pg17_unchanged_stats_since_gives_a_delta() -> None:
    prev = snap(T0, {A: entry(10, 50.0, since=STARTED)})
    result = deltas.compute(prev, snap(T1, {A: entry(11, 60.0, since=STARTED)}))
    assert result.deltas == {QueryKey("shop", 111): {"calls": 1, "total_exec_time": 10.0}}


def test_new_entry_counts_from_zero() -> None:
    prev = snap(T0, {A: entry(10, 50.0)})
    result = deltas.compute(prev, snap(T1, {A: entry(10, 50.0), B: entry(3, 9.0)}))
    assert result.deltas == {QueryKey("shop", 222): {"calls": 3, "total_exec_time": 9.0}}


def test_pg17_new_entry_created_before_previous_poll_is_only_baselined() -> None:
    prev = snap(T0, {A: entry(10, 50.0)})
    cur = snap(T1, {A: entry(10, 50.0), B: entry(3, 9.0, since=T0 - timedelta(hours=1))})
    assert deltas.compute(prev, cur).deltas == {}


def test_vanished_then_back_is_only_rebaselined() -> None:
    p0 = snap(T0, {A: entry(10, 50.0), B: entry(5, 5.0)})
    gone = deltas.compute(p0, snap(T1, {A: entry(11, 51.0)}))
    assert gone.evicted == 1 and B in gone.baseline.vanished
    back = deltas.compute(gone.baseline, snap(T2, {A: entry(11, 51.0), B: entry(2, 2.0)}))
    assert back.deltas == {} and back.rebaselined == 1
    assert B not in back.baseline.vanished
    after = deltas.compute(back.baseline, snap(T2 + timedelta(minutes=5),
                                               {A: entry(11, 51.0), B: entry(4, 6.0)}))
    assert after.deltas == {QueryKey("shop", 222): {"calls": 2, "total_exec_time": 4.0}}


def test_dealloc_growth_is_reported() -> None:
    prev = snap(T0, {A: entry(10, 50.0)})
    grown = ServerIdentity(started=STARTED, stats_reset=STARTED, dealloc=3)
    result = deltas.compute(prev, snap(T1, {A: entry(11, 51.0)}, grown))
    assert result.dealloc_growth == 3


def test_sample_fields_and_extras() -> None:
    ref = QueryRef("pg1", "shop", "111", "abcd")
    counters = {"calls": 4, "total_exec_time": 20.0, "total_plan_time": 2.5, "plans": 4,
                "rows": 40, "shared_blks_hit": 100, "shared_blks_read": 7,
                "temp_blks_read": 3, "temp_blks_written": 5, "wal_bytes": float(Decimal("812")),
                "shared_blk_read_time": 1.25, "local_blks_hit": 0}
    sample = deltas.to_sample(ref, counters, T0, T1, "feedbeef")
    assert (sample.calls, sample.total_ms, sample.rows) == (4, 20.0, 40)
    assert (sample.blks_hit, sample.blks_read, sample.blks_temp) == (100, 7, 8)
    assert sample.mean_ms == 5.0 and sample.plan_hash == "feedbeef"
    assert sample.extras == {"plan_ms": 2.5, "plans": 4, "wal_bytes": 812.0,
                             "shared_blk_read_time": 1.25}
    assert isinstance(sample.extras["wal_bytes"], float)

"""Digest delta math with literal snapshots: deltas, resets, restarts, overflow, units."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from planwatch.collectors import mysql_deltas
from planwatch.collectors.mysql_deltas import DigestEntry, DigestKey, Snapshot
from planwatch.collectors.pg_counters import Counters
from planwatch.model.samples import QueryRef

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SEEN = datetime(2026, 3, 1, 11, 0)
A = DigestKey("shop", "a" * 32)
B = DigestKey(None, "b" * 32)


def entry(calls: int, ps: float = 0.0, first_seen: datetime = SEEN, **more: float) -> DigestEntry:
    return DigestEntry(first_seen, {"COUNT_STAR": calls, "SUM_TIMER_WAIT": ps, **more})


def snap(minutes: int, entries: dict[DigestKey, DigestEntry], uptime: int = 1000,
         lost: int = 0, overflow: int = 0) -> Snapshot:
    return Snapshot.from_entries(T0 + timedelta(minutes=minutes), uptime + minutes * 60, lost,
                                 entries, overflow)


def test_first_poll_has_no_deltas() -> None:
    result = mysql_deltas.compute(None, snap(0, {A: entry(5)}))
    assert result.first_poll and result.deltas == {}


def test_deltas_per_digest_and_new_digests_count_fully() -> None:
    prev = snap(0, {A: entry(5, 5e9)})
    cur = snap(5, {A: entry(8, 11e9, SUM_ROWS_SENT=3), B: entry(2, 1e9)})
    result = mysql_deltas.compute(prev, cur)
    assert result.deltas[A]["COUNT_STAR"] == 3 and result.deltas[A]["SUM_TIMER_WAIT"] == 6e9
    assert result.deltas[B]["COUNT_STAR"] == 2
    assert not result.reset


def test_idle_digests_give_no_delta() -> None:
    prev = snap(0, {A: entry(5, 5e9)})
    assert mysql_deltas.compute(prev, snap(5, {A: entry(5, 5e9)})).deltas == {}


def test_count_going_down_is_a_reset() -> None:
    prev = snap(0, {A: entry(5), B: entry(9)})
    result = mysql_deltas.compute(prev, snap(5, {A: entry(7), B: entry(1)}))
    assert result.reset and result.deltas == {}


def test_first_seen_changing_is_a_reset_even_when_counts_grew() -> None:
    prev = snap(0, {A: entry(2)})
    result = mysql_deltas.compute(prev, snap(5, {A: entry(4, first_seen=SEEN.replace(hour=12))}))
    assert result.reset and result.deltas == {}


def test_vanished_digest_is_a_reset() -> None:
    prev = snap(0, {A: entry(2), B: entry(3)})
    result = mysql_deltas.compute(prev, snap(5, {A: entry(4)}))
    assert result.reset and result.deltas == {}


def test_uptime_going_down_is_a_restart() -> None:
    prev = snap(0, {A: entry(2)}, uptime=5000)
    result = mysql_deltas.compute(prev, snap(5, {A: entry(4)}, uptime=10))
    assert result.restarted and not result.reset and result.deltas == {}


def test_overflow_and_lost_growth() -> None:
    prev = snap(0, {A: entry(2)}, lost=10, overflow=100)
    result = mysql_deltas.compute(prev, snap(5, {A: entry(4)}, lost=25, overflow=130))
    assert (result.lost_growth, result.overflow_growth) == (15, 30)
    assert result.deltas[A]["COUNT_STAR"] == 2


def test_sample_units_and_extras() -> None:
    ref = QueryRef("m", "shop", A.digest, "f")
    counters = {"COUNT_STAR": 4, "SUM_TIMER_WAIT": 2.5e9, "SUM_LOCK_TIME": 1e8,
                "SUM_ROWS_SENT": 7, "SUM_ROWS_AFFECTED": 1, "SUM_ROWS_EXAMINED": 400,
                "SUM_NO_INDEX_USED": 4, "SUM_ERRORS": 0, "SUM_CPU_TIME": 2e9}
    deltas = Counters.from_mappings([A], [counters])
    [s] = mysql_deltas.to_samples([ref], deltas, T0, T0 + timedelta(minutes=5), ["p1"])
    assert (s.calls, s.total_ms, s.rows, s.plan_hash) == (4, 2.5, 8, "p1")
    assert s.extras == {"lock_ms": 0.1, "rows_examined": 400, "no_index_used": 4, "cpu_ms": 2.0}
    assert isinstance(s.calls, int) and isinstance(s.extras["rows_examined"], int)


def test_samples_per_row_from_a_computed_delta() -> None:
    """Rows keep their own counters: extras only where non-zero, idle digests left out."""
    prev = snap(0, {A: entry(5, 5e9), B: entry(1, 1e9)})
    cur = snap(5, {A: entry(8, 11e9, SUM_ROWS_SENT=3), B: entry(1, 1e9),
                   DigestKey("shop", "c" * 32): entry(2, 4e9, SUM_ERRORS=1)})
    result = mysql_deltas.compute(prev, cur)
    refs = [QueryRef("m", k.schema or "", k.digest, "") for k in result.counters.keys]
    samples = mysql_deltas.to_samples(refs, result.counters, T0, T0, [None, None])
    by_digest = {s.ref.query_id[0]: s for s in samples}
    assert set(by_digest) == {"a", "c"}
    assert (by_digest["a"].calls, by_digest["a"].total_ms, by_digest["a"].rows) == (3, 6.0, 3)
    assert by_digest["a"].extras == {} and by_digest["c"].extras == {"errors": 1}


def test_no_samples_from_nothing() -> None:
    result = mysql_deltas.compute(snap(0, {}), snap(5, {}))
    assert mysql_deltas.to_samples([], result.counters, T0, T0, []) == []


def test_unpack_packed_counters() -> None:
    rows = [("shop", "a", "t", "3,18446744073709551615,0"), (None, None, None, "1,2,3")]
    values = mysql_deltas.unpack(rows, 3, 3)
    assert values.shape == (2, 3) and values[0, 1] == 2.0**64 and values[1].tolist() == [1, 2, 3]
    assert mysql_deltas.unpack([], 3, 3).shape == (0, 3)


@pytest.mark.parametrize("packed", ["1,2", "1,2,3,4", "1,x,3", "1,,3"])
def test_unpack_refuses_rows_of_the_wrong_shape(packed: str) -> None:
    with pytest.raises(ValueError):
        mysql_deltas.unpack([("s", "d", "t", "1,2,3"), ("s", "e", "t", packed)], 3, 3)

"""Snapshots survive storage exactly: counters, keys, server identity, vanished entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from planwatch.collectors import deltas, mysql_deltas, snapshot_codec
from planwatch.collectors.pg_counters import Counters

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_postgresql_snapshot_round_trips() -> None:
    keys = [(1, 10, 111, True), (1, 11, -5, False), (2, 10, 2**62, True)]
    values = np.array([[3, 1.5, 0], [7, 0.25, 0], [1, 9.0, 0]], dtype=np.float64)
    counters = Counters(keys, ("calls", "total_exec_time", "jit_functions"), values,
                        frozenset({"calls", "jit_functions"}))
    snap = deltas.Snapshot.from_counters(
        T0, deltas.ServerIdentity(T0 - timedelta(days=1), T0 - timedelta(hours=1), 4), counters,
        ["shop", "shop", "crm"], [T0, None, T0], {(3, 3, 3, True): T0 - timedelta(minutes=5)})
    back = snapshot_codec.decode_pg(snapshot_codec.encode_pg(snap))
    assert back.at == T0 and back.server == snap.server
    assert list(back.counters.keys) == keys and list(back.datnames) == ["shop", "shop", "crm"]
    assert back.counters.names == counters.names and back.counters.integers == counters.integers
    assert np.array_equal(back.counters.values, values)  # the all-zero column comes back
    assert [back.stats_since(i) for i in range(3)] == [T0, None, T0]
    assert back.vanished == snap.vanished


def test_an_empty_snapshot_round_trips() -> None:
    snap = deltas.Snapshot.from_counters(T0, deltas.ServerIdentity(), Counters.empty(), [])
    back = snapshot_codec.decode_pg(snapshot_codec.encode_pg(snap))
    assert back.at == T0 and len(back.counters.keys) == 0


def test_a_mysql_snapshot_round_trips() -> None:
    keys = [mysql_deltas.DigestKey("shop", "abc"), mysql_deltas.DigestKey(None, "def")]
    counters = Counters(keys, ("COUNT_STAR", "SUM_TIMER_WAIT"),
                        np.array([[2, 10**12], [5, 3]], dtype=np.float64), frozenset())
    snap = mysql_deltas.Snapshot(T0, 3600, 0, counters, ["2026-01-01 00:00:00", None], 7)
    back = snapshot_codec.decode_mysql(snapshot_codec.encode_mysql(snap))
    assert (back.at, back.uptime_s, back.digest_lost, back.overflow_calls) == (T0, 3600, 0, 7)
    assert list(back.counters.keys) == keys and list(back.first_seen) == list(snap.first_seen)
    assert np.array_equal(back.counters.values, counters.values)


def test_garbage_is_refused_not_loaded() -> None:
    with pytest.raises(ValueError):
        snapshot_codec.decode_pg(b"not an archive")

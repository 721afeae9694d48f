"""Column-wise counters: the array path gives exactly what the per-mapping path gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from planwatch.collectors import deltas, pg_counters
from planwatch.collectors.deltas import Entry, EntryKey, ServerIdentity, Snapshot
from planwatch.collectors.pg_counters import Counters
from planwatch.model.samples import QueryRef

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
NAMES = ("calls", "total_exec_time", "rows", "shared_blks_hit", "shared_blks_read",
         "temp_blks_read", "temp_blks_written", "total_plan_time", "plans", "wal_bytes",
         "shared_blk_read_time")
INTEGERS = {"calls", "rows", "shared_blks_hit", "shared_blks_read", "temp_blks_read",
            "temp_blks_written", "plans"}


def test_to_samples_matches_to_sample_row_by_row() -> None:
    rows = [
        (4, 20.0, 40, 100, 7, 3, 5, 2.5, 4, 812.0, 1.25),
        (1, 0.5, 0, 0, 0, 0, 0, 0.0, 0, 0.0, 0.0),
        (9, 90.0, 1, 2, 3, 0, 1, 0.0, 2, 0.0, 0.0),
    ]
    keys = [("shop", 1), ("shop", 2), ("crm", 3)]
    counters = Counters.from_rows(keys, NAMES, rows, INTEGERS)
    refs = [QueryRef("pg1", d, str(q), "fp") for d, q in keys]
    hashes = ["h1", None, "h3"]
    got = pg_counters.to_samples(refs, counters, T0, T1, hashes)
    want = [deltas.to_sample(ref, counters.mapping(i), T0, T1, hashes[i])
            for i, ref in enumerate(refs)]
    assert got == want
    assert [s.extras for s in got] == [s.extras for s in want]
    assert got[0].extras == {"plan_ms": 2.5, "plans": 4, "shared_blk_read_time": 1.25,
                             "wal_bytes": 812.0}
    assert isinstance(got[0].extras["plans"], int) and isinstance(got[0].blks_temp, int)
    assert got[1].extras == {} and got[2].extras == {"plans": 2}


def test_mappings_leave_out_zero_counters_and_keep_integer_types() -> None:
    counters = Counters.from_mappings([1, 2], [{"calls": 3, "total_exec_time": 1.5, "rows": 0},
                                               {"calls": 1, "total_exec_time": 0.0}])
    assert counters.mappings() == {1: {"calls": 3, "total_exec_time": 1.5}, 2: {"calls": 1}}
    assert isinstance(counters.mapping(0)["calls"], int)
    assert counters.column("missing").tolist() == [0.0, 0.0]
    assert counters.take([1]).keys == [2]


def test_column_wise_snapshot_gives_the_same_deltas_as_entries() -> None:
    a, b = EntryKey(5, 10, 111), EntryKey(5, 11, 111)
    server = ServerIdentity(started=T0)
    prev = Snapshot(T0, server, {a: Entry("shop", {"calls": 10, "total_exec_time": 50.0}),
                                 b: Entry("shop", {"calls": 1, "total_exec_time": 1.0})})
    values = np.array([[12.0, 60.0], [4.0, 7.0]])
    plain: list[tuple[int, int, int, bool]] = [(5, 10, 111, True), (5, 11, 111, True)]
    columns = Counters(plain, ("calls", "total_exec_time"), values, frozenset({"calls"}))
    cur = Snapshot.from_counters(T1, server, columns, ["shop", "shop"])
    result = deltas.compute(prev, cur)
    assert result.deltas == {("shop", 111): {"calls": 5, "total_exec_time": 16.0}}
    assert cur.entries[a] == Entry("shop", {"calls": 12, "total_exec_time": 60.0}, None)

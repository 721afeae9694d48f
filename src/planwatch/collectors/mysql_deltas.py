"""Turn cumulative performance_schema digest counters into safe per-interval deltas.

Pure: two snapshots in, deltas out (engines.md §2.1). Unlike pg_stat_statements, a digest row
is never evicted on its own: once `performance_schema_digests_size` is reached new statements
are lumped into the `DIGEST IS NULL` row instead. So a row that vanishes, a counter that goes
down or a `FIRST_SEEN` that changes all mean the table was truncated (or the server restarted,
which also shows as `Uptime` going down): the whole interval yields no samples, like a PG reset.
The arithmetic is column-wise (`pg_counters.Counters`): thousands of digests with ~20 counters
each cost a fraction of one dict per digest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np

from planwatch.collectors import pg_counters
from planwatch.collectors.pg_counters import Counters
from planwatch.model.samples import QueryRef, QuerySample

PICOSECONDS_PER_MS = 1e9

TIMERS = {"SUM_TIMER_WAIT": "total_ms", "SUM_LOCK_TIME": "lock_ms", "SUM_CPU_TIME": "cpu_ms"}
"""Picosecond timers and the millisecond names they get in samples."""

COUNTERS = (
    "COUNT_STAR", "SUM_TIMER_WAIT", "SUM_LOCK_TIME", "SUM_ERRORS", "SUM_WARNINGS",
    "SUM_ROWS_AFFECTED", "SUM_ROWS_SENT", "SUM_ROWS_EXAMINED", "SUM_CREATED_TMP_DISK_TABLES",
    "SUM_CREATED_TMP_TABLES", "SUM_SELECT_FULL_JOIN", "SUM_SELECT_FULL_RANGE_JOIN",
    "SUM_SELECT_RANGE", "SUM_SELECT_RANGE_CHECK", "SUM_SELECT_SCAN", "SUM_SORT_MERGE_PASSES",
    "SUM_SORT_RANGE", "SUM_SORT_ROWS", "SUM_SORT_SCAN", "SUM_NO_INDEX_USED",
    "SUM_NO_GOOD_INDEX_USED", "SUM_CPU_TIME", "COUNT_SECONDARY",
)
"""Cumulative columns we read when the server has them (MIN/AVG/MAX and quantiles are not
interval-safe). Names are fixed here, so they can be spliced into SQL."""

MAIN = frozenset({"COUNT_STAR", "SUM_TIMER_WAIT", "SUM_ROWS_SENT", "SUM_ROWS_AFFECTED"})


class DigestKey(NamedTuple):
    """Identity of one digest row; `schema` is None for statements without a default database."""

    schema: str | None
    digest: str


@dataclass(frozen=True, slots=True)
class DigestEntry:
    """One digest row as a mapping (tests and small callers; polls build `Snapshot`s directly).
    `first_seen` is only compared for equality: a datetime, or FIRST_SEEN as text."""

    first_seen: object
    counters: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """All digest rows at one moment; `first_seen[i]` belongs to `counters.keys[i]`."""

    at: datetime
    uptime_s: int | None
    digest_lost: int | None  # status Performance_schema_digest_lost
    counters: Counters[DigestKey]
    first_seen: Sequence[object]  # FIRST_SEEN per row (None: unknown)
    overflow_calls: int = 0  # COUNT_STAR of the DIGEST IS NULL row(s)

    @classmethod
    def from_entries(
        cls, at: datetime, uptime_s: int | None, digest_lost: int | None,
        entries: Mapping[DigestKey, DigestEntry], overflow_calls: int = 0,
    ) -> Snapshot:
        counters = Counters.from_mappings(list(entries), [e.counters for e in entries.values()])
        return cls(at, uptime_s, digest_lost, counters,
                   [e.first_seen for e in entries.values()], overflow_calls)

    @property
    def keys(self) -> Sequence[DigestKey]:
        return self.counters.keys


@dataclass(frozen=True, slots=True)
class DeltaResult:
    counters: Counters[DigestKey]  # digests with calls > 0 only
    baseline: Snapshot
    first_poll: bool = False
    reset: bool = False  # the digest table was truncated
    restarted: bool = False
    lost_growth: int = 0  # statements not digested since the previous poll
    overflow_growth: int = 0

    @property
    def deltas(self) -> dict[DigestKey, dict[str, float]]:
        """{digest: {counter: delta}}, counters whose delta is 0 left out."""
        return self.counters.mappings()


def unpack(rows: Sequence[Sequence[Any]], column: int, width: int) -> Any:
    """The comma-separated counters in `rows[i][column]` as a float64 array (len(rows), width).

    Raises ValueError when a row does not hold exactly `width` numbers.
    """
    if not rows:
        return np.zeros((0, width))
    values = np.loadtxt([r[column] for r in rows], delimiter=",", dtype=np.float64, ndmin=2)
    if values.shape != (len(rows), width):
        raise ValueError(f"expected {width} counters per digest row, got {values.shape[1]}")
    return values


def compute(prev: Snapshot | None, cur: Snapshot) -> DeltaResult:
    """Deltas of `cur` against `prev`; nothing at all on the first poll, a reset or a restart."""
    if prev is None:
        return DeltaResult(Counters.empty(), cur, first_poll=True)
    lost = max(0, (cur.digest_lost or 0) - (prev.digest_lost or 0))
    overflow = cur.overflow_calls - prev.overflow_calls
    if _went_down(prev.uptime_s, cur.uptime_s):
        return DeltaResult(Counters.empty(), cur, restarted=True, lost_growth=cur.digest_lost or 0,
                           overflow_growth=cur.overflow_calls)
    delta = None if overflow < 0 else _delta(prev, cur)
    if delta is None:
        return DeltaResult(Counters.empty(), cur, reset=True, lost_growth=lost,
                           overflow_growth=max(0, cur.overflow_calls))
    calls = delta.column("COUNT_STAR")
    moved = delta if bool((calls > 0).all()) else delta.take(np.flatnonzero(calls > 0).tolist())
    return DeltaResult(moved, cur, lost_growth=lost, overflow_growth=overflow)


def _delta(prev: Snapshot, cur: Snapshot) -> Counters[DigestKey] | None:
    """current - previous per digest (all of it for a new digest); None when any row vanished,
    went down or was re-created (another FIRST_SEEN): the table was truncated."""
    now, before = cur.counters, prev.counters
    if any(key not in now.index for key in before.keys):
        return None
    values, pos = now.minus(before)
    if (values < 0).any():
        return None
    seen_before, seen_now, at = prev.first_seen, cur.first_seen, pos.tolist()
    for i in np.flatnonzero(pos >= 0).tolist():
        was = seen_before[at[i]]
        if was is not None and was != seen_now[i]:
            return None
    return Counters(now.keys, now.names, values, now.integers)


def _went_down(before: int | None, after: int | None) -> bool:
    return before is not None and after is not None and after < before


def to_samples(
    refs: Sequence[QueryRef],
    deltas: Counters[DigestKey],
    start: datetime,
    end: datetime,
    plan_hashes: Sequence[str | None],
) -> list[QuerySample]:
    """One QuerySample per delta row: timers in ms, other non-zero counters in `extras`."""
    return pg_counters.to_samples(refs, sample_columns(deltas), start, end, plan_hashes)


def sample_columns(deltas: Counters[DigestKey]) -> Counters[DigestKey]:
    """The digest counters renamed and scaled to what `pg_counters.to_samples` reads:
    calls, total_exec_time (ms) and rows (sent + affected), extras under sample names."""
    columns: dict[str, Any] = {
        "calls": deltas.column("COUNT_STAR"),
        "total_exec_time": deltas.column("SUM_TIMER_WAIT") / PICOSECONDS_PER_MS,
        "rows": deltas.column("SUM_ROWS_SENT") + deltas.column("SUM_ROWS_AFFECTED"),
    }
    for name in deltas.names:
        if name in TIMERS and name not in MAIN:
            columns[TIMERS[name]] = deltas.column(name) / PICOSECONDS_PER_MS
        elif name not in MAIN:
            columns[name.removeprefix("SUM_").lower()] = deltas.column(name)
    values = np.column_stack(list(columns.values())) if len(deltas.keys) else np.zeros(
        (0, len(columns)))
    fractional = {"total_exec_time", *TIMERS.values()}
    return Counters(deltas.keys, tuple(columns), values, frozenset(columns) - fractional)

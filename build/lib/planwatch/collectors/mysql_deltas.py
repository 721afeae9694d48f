"""Turn cumulative performance_schema digest counters into safe per-interval deltas.

Pure: two snapshots in, deltas out (engines.md §2.1). Unlike pg_stat_statements, a digest row
is never evicted on its own: once `performance_schema_digests_size` is reached new statements
are lumped into the `DIGEST IS NULL` row instead. So a row that vanishes, a counter that goes
down or a `FIRST_SEEN` that changes all mean the table was truncated (or the server restarted,
which also shows as `Uptime` going down): the whole interval yields no samples, like a PG reset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

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
    first_seen: datetime | None
    counters: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: datetime
    uptime_s: int | None
    digest_lost: int | None  # status Performance_schema_digest_lost
    entries: Mapping[DigestKey, DigestEntry]
    overflow_calls: int = 0  # COUNT_STAR of the DIGEST IS NULL row(s)


@dataclass(frozen=True, slots=True)
class DeltaResult:
    deltas: Mapping[DigestKey, Mapping[str, float]]  # calls > 0 only
    baseline: Snapshot
    first_poll: bool = False
    reset: bool = False  # the digest table was truncated
    restarted: bool = False
    lost_growth: int = 0  # statements not digested since the previous poll
    overflow_growth: int = 0


def compute(prev: Snapshot | None, cur: Snapshot) -> DeltaResult:
    """Deltas of `cur` against `prev`; nothing at all on the first poll, a reset or a restart."""
    if prev is None:
        return DeltaResult({}, cur, first_poll=True)
    restarted = _went_down(prev.uptime_s, cur.uptime_s)
    lost = max(0, (cur.digest_lost or 0) - (prev.digest_lost or 0))
    overflow = cur.overflow_calls - prev.overflow_calls
    if restarted:
        return DeltaResult({}, cur, restarted=True, lost_growth=cur.digest_lost or 0,
                           overflow_growth=cur.overflow_calls)
    deltas: dict[DigestKey, dict[str, float]] = {}
    reset = overflow < 0 or any(key not in cur.entries for key in prev.entries)
    for key, entry in () if reset else cur.entries.items():
        delta = _entry_delta(prev.entries.get(key), entry)
        if delta is None:
            reset = True
            break
        if delta.get("COUNT_STAR", 0) > 0:
            deltas[key] = delta
    if reset:
        return DeltaResult({}, cur, reset=True, lost_growth=lost,
                           overflow_growth=max(0, cur.overflow_calls))
    return DeltaResult(deltas, cur, lost_growth=lost, overflow_growth=overflow)


def _entry_delta(before: DigestEntry | None, entry: DigestEntry) -> dict[str, float] | None:
    """current - previous (all of it for a new digest); None when the row was re-created."""
    if before is None:
        return dict(entry.counters)
    if before.first_seen is not None and before.first_seen != entry.first_seen:
        return None
    delta = {name: value - before.counters.get(name, 0) for name, value in entry.counters.items()}
    return None if any(value < 0 for value in delta.values()) else delta


def _went_down(before: int | None, after: int | None) -> bool:
    return before is not None and after is not None and after < before


def to_sample(
    ref: QueryRef,
    counters: Mapping[str, float],
    start: datetime,
    end: datetime,
    plan_hash: str | None = None,
) -> QuerySample:
    """One interval's QuerySample; timers in ms, other non-zero counters in `extras`."""
    extras: dict[str, Any] = {}
    for name, value in sorted(counters.items()):
        if name in MAIN or not value:
            continue
        if name in TIMERS:
            extras[TIMERS[name]] = value / PICOSECONDS_PER_MS
        else:
            extras[name.removeprefix("SUM_").lower()] = int(value)
    return QuerySample(
        ref=ref,
        interval_start=start,
        interval_end=end,
        calls=int(counters.get("COUNT_STAR", 0)),
        total_ms=counters.get("SUM_TIMER_WAIT", 0) / PICOSECONDS_PER_MS,
        rows=int(counters.get("SUM_ROWS_SENT", 0) + counters.get("SUM_ROWS_AFFECTED", 0)),
        plan_hash=plan_hash,
        extras=extras,
    )

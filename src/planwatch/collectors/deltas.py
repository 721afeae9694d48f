"""Turn cumulative pg_stat_statements counters into safe per-interval deltas (engines.md §1.5).

Pure: two snapshots in, aggregated deltas out. An interval yields nothing where the counters
cannot be trusted — first poll, statistics reset, server restart — and an entry yields
nothing in the interval where it was re-created (counters went down, PG17 `stats_since`
changed, or it came back after vanishing); it is only re-baselined.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import compress
from operator import sub
from typing import Any, NamedTuple

from planwatch.model.samples import QueryRef, QuerySample

# How long a vanished (probably evicted) entry is remembered, and how many at most.
VANISHED_TTL = timedelta(days=1)
VANISHED_MAX = 50_000

MAIN_COUNTERS = frozenset(
    {"calls", "total_exec_time", "rows", "shared_blks_hit", "shared_blks_read",
     "temp_blks_read", "temp_blks_written"}
)


class EntryKey(NamedTuple):
    """Identity of one pg_stat_statements entry."""

    dbid: int
    userid: int
    queryid: int
    toplevel: bool = True


class Entry(NamedTuple):
    """Cumulative counters of one entry (canonical names, see `pg_columns`).

    A tuple, not a dataclass: a snapshot holds one per pg_stat_statements entry for a whole
    poll interval, and tuples of untracked values drop out of the garbage collector's scans.
    """

    datname: str
    counters: Mapping[str, float]
    stats_since: datetime | None = None  # PG17+


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """Facts that change when the server restarts or the statistics are reset."""

    started: datetime | None = None  # pg_postmaster_start_time()
    stats_reset: datetime | None = None  # pg_stat_statements_info (PG14+)
    dealloc: int | None = None  # pg_stat_statements_info (PG14+)


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: datetime
    server: ServerIdentity
    entries: Mapping[EntryKey, Entry]
    vanished: Mapping[EntryKey, datetime] = field(default_factory=dict)  # key -> when it went


class QueryKey(NamedTuple):
    datname: str
    queryid: int


@dataclass(frozen=True, slots=True)
class DeltaResult:
    # Summed over userid/toplevel, calls > 0; counters whose delta is 0 are left out.
    deltas: Mapping[QueryKey, Mapping[str, float]]
    baseline: Snapshot  # keep this one for the next poll
    first_poll: bool = False
    reset: bool = False
    restarted: bool = False
    rebaselined: int = 0  # entries skipped because they were re-created
    evicted: int = 0  # keys present in the previous snapshot and gone now
    dealloc_growth: int = 0


def compute(prev: Snapshot | None, cur: Snapshot) -> DeltaResult:
    """Deltas of `cur` against `prev`, following the rules in the module docstring."""
    if prev is None:
        return DeltaResult(deltas={}, baseline=cur, first_poll=True)
    restarted = _changed(prev.server.started, cur.server.started)
    reset = _changed(prev.server.stats_reset, cur.server.stats_reset)
    growth = max(0, (cur.server.dealloc or 0) - (prev.server.dealloc or 0))
    gone = [k for k in prev.entries if k not in cur.entries]
    if restarted or reset:
        baseline = Snapshot(cur.at, cur.server, cur.entries)
        return DeltaResult({}, baseline, reset=reset, restarted=restarted,
                           evicted=len(gone), dealloc_growth=growth)
    totals: dict[QueryKey, dict[str, float]] = {}
    rebaselined = 0
    for key, entry in cur.entries.items():
        delta = _entry_delta(key, entry, prev)
        if delta is None:
            rebaselined += 1
        elif delta.get("calls", 0) > 0:
            query = QueryKey(entry.datname, key.queryid)
            summed = totals.get(query)
            if summed is None:
                totals[query] = delta  # a fresh dict: the usual single entry per query
            else:
                _add(summed, delta)
    baseline = Snapshot(cur.at, cur.server, cur.entries, _vanished(prev, cur, gone))
    return DeltaResult(totals, baseline, rebaselined=rebaselined, evicted=len(gone),
                       dealloc_growth=growth)


def _entry_delta(key: EntryKey, entry: Entry, prev: Snapshot) -> dict[str, float] | None:
    """current - previous without its zero counters, or None when the entry must only be
    re-baselined. Runs for every entry of every poll, so the arithmetic stays in C (map,
    compress) rather than in per-counter Python loops."""
    before = prev.entries.get(key)
    now = entry.counters
    if before is None:
        if key in prev.vanished:
            return None  # evicted and back: counters restarted at an unknown time
        if entry.stats_since is not None and entry.stats_since < prev.at:
            return None  # existed at the previous poll although we did not see it
        return dict(compress(now.items(), now.values()))
    if _changed(before.stats_since, entry.stats_since):
        return None
    olds = list(map(before.counters.get, now))
    if None in olds:  # a counter the previous poll did not have counts from 0
        olds = [0 if old is None else old for old in olds]
    diff = list(map(sub, now.values(), olds))
    if diff and min(diff) < 0:
        return None
    return dict(compress(zip(now, diff, strict=True), diff))


def _vanished(prev: Snapshot, cur: Snapshot, gone: list[EntryKey]) -> dict[EntryKey, datetime]:
    horizon = cur.at - VANISHED_TTL
    kept = {k: t for k, t in prev.vanished.items() if t >= horizon and k not in cur.entries}
    kept.update((k, cur.at) for k in gone)
    if len(kept) > VANISHED_MAX:
        newest = sorted(kept.items(), key=lambda kv: kv[1])[-VANISHED_MAX:]
        kept = dict(newest)
    return kept


def _changed(before: Any, after: Any) -> bool:
    return before is not None and after is not None and before != after


def _add(into: dict[str, float], delta: Mapping[str, float]) -> None:
    for name, value in delta.items():
        into[name] = into.get(name, 0) + value


def to_sample(
    ref: QueryRef,
    counters: Mapping[str, float],
    start: datetime,
    end: datetime,
    plan_hash: str | None = None,
) -> QuerySample:
    """One interval's QuerySample. `total_ms` is execution time only; planning time, when
    `track_planning` records it, is in `extras["plan_ms"]` with the other non-zero counters."""
    extras: dict[str, Any] = {}
    for name, value in sorted(counters.items()):
        if name in MAIN_COUNTERS or not value:
            continue
        key = "plan_ms" if name == "total_plan_time" else name
        extras[key] = value if isinstance(value, int) else float(value)
    return QuerySample(
        ref=ref,
        interval_start=start,
        interval_end=end,
        calls=int(counters.get("calls", 0)),
        total_ms=float(counters.get("total_exec_time", 0.0)),
        rows=int(counters.get("rows", 0)),
        blks_hit=int(counters.get("shared_blks_hit", 0)),
        blks_read=int(counters.get("shared_blks_read", 0)),
        blks_temp=int(counters.get("temp_blks_read", 0) + counters.get("temp_blks_written", 0)),
        plan_hash=plan_hash,
        extras=extras,
    )


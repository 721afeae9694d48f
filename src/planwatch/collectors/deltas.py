"""Turn cumulative pg_stat_statements counters into safe per-interval deltas (engines.md §1.5).

Pure: two snapshots in, aggregated deltas out. An interval yields nothing where the counters
cannot be trusted — first poll, statistics reset, server restart — and an entry yields
nothing in the interval where it was re-created (counters went down, PG17 `stats_since`
changed, or it came back after vanishing); it is only re-baselined.

The arithmetic is column-wise (`pg_counters.Counters`): the collector hands over a snapshot
as arrays; snapshots built from `Entry` mappings (tests, small callers) are converted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import numpy as np

from planwatch.collectors.pg_counters import MAIN_COUNTERS, Counters
from planwatch.model.samples import QueryRef, QuerySample

# How long a vanished (probably evicted) entry is remembered, and how many at most.
VANISHED_TTL = timedelta(days=1)
VANISHED_MAX = 50_000

__all__ = ["MAIN_COUNTERS", "DeltaResult", "Entry", "EntryId", "EntryKey", "QueryId", "QueryKey",
           "ServerIdentity", "Snapshot", "compute", "to_sample"]


class EntryKey(NamedTuple):
    """Identity of one pg_stat_statements entry."""

    dbid: int
    userid: int
    queryid: int
    toplevel: bool = True


class Entry(NamedTuple):
    """Cumulative counters of one entry (canonical names, see `pg_columns`)."""

    datname: str
    counters: Mapping[str, float]
    stats_since: datetime | None = None  # PG17+


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """Facts that change when the server restarts or the statistics are reset."""

    started: datetime | None = None  # pg_postmaster_start_time()
    stats_reset: datetime | None = None  # pg_stat_statements_info (PG14+)
    dealloc: int | None = None  # pg_stat_statements_info (PG14+)


class QueryKey(NamedTuple):
    datname: str
    queryid: int


# Row keys of the column-wise data: EntryKey / QueryKey, or the equal plain tuples the
# collector makes — a poll creates thousands, and only exact tuples of numbers and strings
# drop out of the garbage collector's bookkeeping (NamedTuples are scanned until freed).
EntryId = tuple[int, int, int, bool]  # (dbid, userid, queryid, toplevel)
QueryId = tuple[str, int]  # (datname, queryid)


class Snapshot:
    """All entries at one moment: from `Entry` mappings, or column-wise (`from_counters`)."""

    __slots__ = ("_entries", "_since", "at", "counters", "datnames", "server", "vanished")

    def __init__(
        self, at: datetime, server: ServerIdentity, entries: Mapping[EntryId, Entry],
        vanished: Mapping[EntryId, datetime] | None = None,
    ) -> None:
        keys = list(entries)
        self.at, self.server = at, server
        self.vanished: Mapping[EntryId, datetime] = vanished or {}
        self.counters: Counters[EntryId] = Counters.from_mappings(
            keys, [e.counters for e in entries.values()])
        self.datnames: Sequence[str] = [e.datname for e in entries.values()]
        self._since: Sequence[datetime | None] | None = [e.stats_since for e in entries.values()]
        self._entries: Mapping[EntryId, Entry] | None = entries

    @classmethod
    def from_counters(
        cls, at: datetime, server: ServerIdentity, counters: Counters[EntryId],
        datnames: Sequence[str], stats_since: Sequence[datetime | None] | None = None,
        vanished: Mapping[EntryId, datetime] | None = None,
    ) -> Snapshot:
        """A snapshot of row-aligned columns; `stats_since` None when no entry has one."""
        snap = cls.__new__(cls)
        snap.at, snap.server, snap.vanished = at, server, vanished or {}
        snap.counters, snap.datnames, snap._since = counters, datnames, stats_since
        snap._entries = None
        return snap

    @property
    def entries(self) -> Mapping[EntryId, Entry]:
        if self._entries is None:
            since = self._since or [None] * len(self.datnames)
            self._entries = {
                key: Entry(self.datnames[i], self.counters.mapping(i), since[i])
                for i, key in enumerate(self.counters.keys)
            }
        return self._entries

    def stats_since(self, row: int) -> datetime | None:
        return None if self._since is None else self._since[row]

    def with_vanished(self, vanished: Mapping[EntryId, datetime]) -> Snapshot:
        return Snapshot.from_counters(self.at, self.server, self.counters, self.datnames,
                                      self._since, vanished)

    def has_stats_since(self) -> bool:
        return self._since is not None and any(s is not None for s in self._since)


@dataclass(frozen=True, slots=True)
class DeltaResult:
    # One row per query, summed over userid/toplevel, calls > 0.
    counters: Counters[QueryId]
    baseline: Snapshot  # keep this one for the next poll
    first_poll: bool = False
    reset: bool = False
    restarted: bool = False
    rebaselined: int = 0  # entries skipped because they were re-created
    evicted: int = 0  # keys present in the previous snapshot and gone now
    dealloc_growth: int = 0

    @property
    def deltas(self) -> dict[QueryId, dict[str, float]]:
        """{query: {counter: delta}}, counters whose delta is 0 left out."""
        return self.counters.mappings()


def compute(prev: Snapshot | None, cur: Snapshot) -> DeltaResult:
    """Deltas of `cur` against `prev`, following the rules in the module docstring."""
    if prev is None:
        return DeltaResult(Counters.empty(), baseline=cur, first_poll=True)
    restarted = _changed(prev.server.started, cur.server.started)
    reset = _changed(prev.server.stats_reset, cur.server.stats_reset)
    growth = max(0, (cur.server.dealloc or 0) - (prev.server.dealloc or 0))
    now, before = cur.counters, prev.counters
    gone = [k for k in before.keys if k not in now.index]
    if restarted or reset:
        return DeltaResult(Counters.empty(), cur.with_vanished({}), reset=reset,
                           restarted=restarted, evicted=len(gone), dealloc_growth=growth)
    n = len(now.keys)
    delta, pos = now.minus(before)
    found = pos >= 0
    skip = found & (delta < 0).any(axis=1)  # counters went down: re-created
    for i in np.flatnonzero(~found).tolist():  # new to us
        since = cur.stats_since(i)
        # Evicted and back (restarted at an unknown time), or existed unseen at the last poll.
        if now.keys[i] in prev.vanished or (since is not None and since < prev.at):
            skip[i] = True
    if cur.has_stats_since() and prev.has_stats_since():
        for i in np.flatnonzero(found).tolist():
            if _changed(prev.stats_since(int(pos[i])), cur.stats_since(i)):
                skip[i] = True
    calls = delta[:, now.names.index("calls")] if "calls" in now.names else np.zeros(n)
    keep = ~skip & (calls > 0)
    baseline = cur.with_vanished(_vanished(prev, cur, gone))
    return DeltaResult(_by_query(cur, delta, keep), baseline, rebaselined=int(skip.sum()),
                       evicted=len(gone), dealloc_growth=growth)


def _by_query(cur: Snapshot, delta: Any, keep: Any) -> Counters[QueryId]:
    """The kept rows summed per (database, queryid) — usually one entry per query."""
    rows = np.flatnonzero(keep).tolist()
    keys = [(cur.datnames[i], cur.counters.keys[i][2]) for i in rows]
    names, integers = cur.counters.names, cur.counters.integers
    group: dict[QueryId, int] = {}
    codes = [group.setdefault(k, len(group)) for k in keys]
    if len(group) == len(keys):
        return Counters(keys, names, delta[rows].reshape(len(rows), len(names)), integers)
    summed = np.zeros((len(group), len(names)))
    np.add.at(summed, np.asarray(codes, dtype=np.int64), delta[rows])
    return Counters(list(group), names, summed, integers)


def _vanished(prev: Snapshot, cur: Snapshot, gone: list[EntryId]) -> dict[EntryId, datetime]:
    horizon = cur.at - VANISHED_TTL
    present = cur.counters.index
    kept = {k: t for k, t in prev.vanished.items() if t >= horizon and k not in present}
    kept.update((k, cur.at) for k in gone)
    if len(kept) > VANISHED_MAX:
        newest = sorted(kept.items(), key=lambda kv: kv[1])[-VANISHED_MAX:]
        kept = dict(newest)
    return kept


def _changed(before: Any, after: Any) -> bool:
    return before is not None and after is not None and before != after


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


"""Plan cache DMV counters (sys.dm_exec_query_stats) → per-interval deltas per query_hash.

Pure (engines.md §3.2). Rows live only while their plan is cached, so each is keyed by
(sql_handle, statement offsets, plan_handle, creation_time): a key seen before gives
current - previous; a new key whose plan was created after the previous poll (recompile,
restart, new query) counts in full — it started over; a new key created earlier (we could not
see it then) and counters that went down are only re-baselined. Deltas are summed per
(database, query_hash); the dominant query_plan_hash is the one with the most executions.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from planwatch.collectors.sqlserver_querystore import hex_hash, utc
from planwatch.model.samples import QueryRef, QuerySample

COUNTERS = ("execution_count", "total_worker_time", "total_elapsed_time", "total_logical_reads",
            "total_physical_reads", "total_logical_writes", "total_rows")


class StatsKey(NamedTuple):
    sql_handle: bytes
    start: int
    end: int
    plan_handle: bytes
    creation_time: datetime


class QueryKey(NamedTuple):
    database: str
    query_hash: str  # 0x... upper-case hex


@dataclass(frozen=True, slots=True)
class StatsEntry:
    query: QueryKey
    plan_hash: str | None  # engine query_plan_hash, 0x... hex
    counters: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: datetime  # server clock
    entries: Mapping[StatsKey, StatsEntry]


@dataclass
class QueryDelta:
    """One query's executions in the interval, with a statement handle per engine plan hash."""

    counters: dict[str, float] = field(default_factory=dict)
    plans: dict[str, int] = field(default_factory=dict)  # engine plan hash -> executions
    handles: dict[str, StatsKey] = field(default_factory=dict)

    @property
    def dominant_plan(self) -> str | None:
        return max(self.plans, key=lambda h: self.plans[h]) if self.plans else None


def snapshot(rows: Iterable[Mapping[str, Any]], at: datetime,
             databases: Collection[str]) -> Snapshot:
    """The rows of the watched databases; rows without a query_hash (no statement) skipped."""
    entries: dict[StatsKey, StatsEntry] = {}
    for row in rows:
        query_hash = hex_hash(row.get("query_hash"))
        database = row.get("database_name")
        if query_hash is None or database not in databases:
            continue
        key = StatsKey(bytes(row["sql_handle"]), int(row["statement_start_offset"]),
                       int(row["statement_end_offset"]), bytes(row["plan_handle"]),
                       utc(row["creation_time"]))
        counters = {c: float(row.get(c) or 0) for c in COUNTERS}
        entries[key] = StatsEntry(QueryKey(str(database), query_hash),
                                  hex_hash(row.get("query_plan_hash")), counters)
    return Snapshot(utc(at), entries)


def compute(prev: Snapshot | None, cur: Snapshot) -> dict[QueryKey, QueryDelta]:
    """Deltas per query since `prev` (nothing on the first poll)."""
    if prev is None:
        return {}
    result: dict[QueryKey, QueryDelta] = {}
    for key, entry in cur.entries.items():
        delta = _entry_delta(prev, key, entry)
        if delta is None or delta["execution_count"] <= 0:
            continue
        item = result.setdefault(entry.query, QueryDelta())
        for name, value in delta.items():
            item.counters[name] = item.counters.get(name, 0.0) + value
        plan = entry.plan_hash or ""
        item.plans[plan] = item.plans.get(plan, 0) + int(delta["execution_count"])
        item.handles.setdefault(plan, key)
    return result


def _entry_delta(prev: Snapshot, key: StatsKey, entry: StatsEntry) -> dict[str, float] | None:
    before = prev.entries.get(key)
    if before is None:
        return dict(entry.counters) if key.creation_time >= prev.at else None
    delta = {n: v - before.counters.get(n, 0.0) for n, v in entry.counters.items()}
    return None if any(v < 0 for v in delta.values()) else delta


def to_sample(
    ref: QueryRef, delta: QueryDelta, start: datetime, end: datetime, plan_hash: str | None
) -> QuerySample:
    """µs → ms; logical reads that were not physical count as hits (8 KB pages = blocks)."""
    c = delta.counters
    physical = int(c.get("total_physical_reads", 0))
    extras: dict[str, Any] = {"query_hash": ref.query_id}
    if plan_hash:  # the cached plan that executed in this interval
        extras["plan_observed"] = True
    if delta.dominant_plan:
        extras["query_plan_hash"] = delta.dominant_plan
    if c.get("total_worker_time"):
        extras["cpu_ms"] = c["total_worker_time"] / 1000
    if c.get("total_logical_writes"):
        extras["logical_writes"] = int(c["total_logical_writes"])
    if len(delta.plans) > 1:
        extras["plans"] = dict(delta.plans)
    return QuerySample(
        ref=ref, interval_start=start, interval_end=end, calls=int(c.get("execution_count", 0)),
        total_ms=c.get("total_elapsed_time", 0.0) / 1000, rows=int(c.get("total_rows", 0)),
        blks_hit=max(0, int(c.get("total_logical_reads", 0)) - physical), blks_read=physical,
        plan_hash=plan_hash, extras=extras,
    )

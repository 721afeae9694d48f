"""Retention: delete expired rows per data kind in small batches, one short transaction each.

Each batch deletes at most `batch_size` rows chosen by key, so a writer (collection) waits
at most one batch for a lock, never for the whole cleanup. Expired raw samples are first
rolled up into `query_samples_hourly` (sums per query and UTC hour) in the same transaction
that deletes them, so a crash never counts a sample twice or loses it. Deleting resolved
alerts cascades to their events and outbox rows; messages sent or given up expire after the
same number of days.

On PostgreSQL the samples are partitioned by day (`storage/partitions.py`): whole expired days
are rolled up and dropped, one transaction per day, instead of deleted row by row; the batches
then only see what sits outside the day partitions (the pre-partitioning table, the default
partition), up to the start of the cutoff's day. A day is kept until all of it has expired.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from planwatch.storage import _sql, partitions
from planwatch.storage.engine import Storage
from planwatch.storage.tables import (
    UTCDateTime,
    alerts,
    check_results,
    from_db,
    job_runs,
    notifications,
    query_samples,
    query_samples_hourly,
    worker_metrics,
)

KINDS = ("samples", "samples_hourly", "check_results", "job_runs", "worker_metrics",
         "resolved_alerts", "notifications")
_SUMS = ("calls", "total_ms", "rows", "blks_hit", "blks_read", "blks_temp")


@dataclass(frozen=True, slots=True)
class Purged:
    kind: str
    rows: int
    batches: int
    seconds: float
    longest_batch_s: float  # the longest single transaction
    partitions: int = 0  # whole day partitions dropped (PostgreSQL samples)


def _victims(kind: str, cutoff: datetime, limit: int) -> tuple[sa.Table, sa.ColumnElement[bool]]:
    """The table and a WHERE clause picking at most `limit` expired rows of `kind` by key."""
    if kind == "samples_hourly":
        h = query_samples_hourly
        keys = sa.select(h.c.query_pk, h.c.hour_start).where(h.c.hour_start < cutoff).limit(limit)
        return h, sa.tuple_(h.c.query_pk, h.c.hour_start).in_(keys)
    table, column, extra = _by_id[kind]
    ids = sa.select(table.c.id).where(column < cutoff, *extra).limit(limit)
    return table, table.c.id.in_(ids.scalar_subquery())


_by_id: dict[str, tuple[sa.Table, sa.ColumnElement[datetime], tuple[sa.ColumnElement[bool], ...]]]
_by_id = {
    "check_results": (check_results, check_results.c.executed_at, ()),
    "job_runs": (job_runs, job_runs.c.started_at,
                 (job_runs.c.status.in_(("Completed", "Failed", "Cancelled")),)),
    "worker_metrics": (worker_metrics, worker_metrics.c.at, ()),
    "resolved_alerts": (alerts, alerts.c.resolved_at, (alerts.c.status == "resolved",)),
    "notifications": (notifications, notifications.c.created_at,
                      (notifications.c.status != "pending",)),  # sent or given up
}


def delete_batch(st: Storage, kind: str, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` rows of `kind` older than `cutoff`, in one transaction."""
    return _batch(st, kind, cutoff, limit)[0]


def _batch(st: Storage, kind: str, cutoff: datetime, limit: int) -> tuple[int, bool]:
    """One batch: (rows deleted, whether it was the last one)."""
    if kind not in KINDS:
        raise ValueError(f"unknown retention kind {kind!r}")
    if kind == "samples":
        return _downsample_batch(st, cutoff, limit)
    table, where = _victims(kind, cutoff, limit)
    with st.begin() as conn:
        rows = int(conn.execute(sa.delete(table).where(where)).rowcount)
    return rows, rows < limit


def _downsample_batch(st: Storage, cutoff: datetime, limit: int) -> tuple[int, bool]:
    """Roll up about `limit` of the oldest expired samples into hourly rows and delete them.

    The batch is a range of `interval_end` (an index range, no key lists): everything that
    ends before the `limit`-th oldest end, or all rows sharing the oldest end when there
    are more of those than `limit`. Roll-up and delete are one transaction. A batch can hold
    fewer than `limit` rows and still not be the last (the rows sharing the `limit`-th end
    wait for the next one), so it says whether it reached the cutoff.
    """
    s = query_samples
    end = s.c.interval_end
    with st.begin() as conn:
        first = conn.execute(sa.select(sa.func.min(end)).where(end < cutoff)).scalar_one()
        if first is None:
            return 0, True
        first = from_db(first) if isinstance(first, datetime) else _parse(first)
        nth = conn.execute(
            sa.select(end).where(end < cutoff).order_by(end).offset(limit).limit(1)
        ).scalar_one_or_none()
        upper = cutoff if nth is None else nth
        # Two-sided, so SQLite's planner (without statistics) picks the interval_end index.
        where = sa.and_(end >= first, end < upper) if upper > first else end == first
        _rollup(conn, where)
        return int(conn.execute(sa.delete(s).where(where)).rowcount), nth is None


def _drop_day(st: Storage, day: partitions.Partition) -> int:
    """Roll up one expired partition and drop it, in one transaction; its row count."""
    start = query_samples.c.interval_start
    where = start < day.upper  # exactly the partition's rows: PostgreSQL prunes to it
    if day.lower is not None:
        where = sa.and_(start >= day.lower, where)
    with st.begin() as conn:
        count = sa.select(sa.func.count()).select_from(query_samples).where(where)
        rows = int(conn.execute(count).scalar_one())
        _rollup(conn, where)
        partitions.drop(conn, day)
    return rows


def _rollup(conn: sa.Connection, where: sa.ColumnElement[bool]) -> None:
    """Add the selected raw samples' sums into their (query, UTC hour) rows."""
    s, h = query_samples, query_samples_hourly
    hour = hour_floor(s.c.interval_start)
    sums = sa.select(s.c.query_pk, hour, sa.func.count(), *[sa.func.sum(s.c[c]) for c in _SUMS])
    stmt = _sql.insert(conn, h).from_select(
        ["query_pk", "hour_start", "samples", *_SUMS],
        sums.where(where).group_by(s.c.query_pk, hour),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["query_pk", "hour_start"],
        set_={c: h.c[c] + stmt.excluded[c] for c in ("samples", *_SUMS)},
    )
    conn.execute(stmt)


def _parse(value: str) -> datetime:
    """An aggregate's datetime as SQLite returns it (text, the column type is lost)."""
    return from_db(datetime.fromisoformat(value))


class hour_floor(FunctionElement[datetime]):
    """The start of a timestamp's UTC hour, in the storage's own datetime representation."""

    type = UTCDateTime()
    name = "hour_floor"
    inherit_cache = True


@compiles(hour_floor, "sqlite")
def _hour_floor_sqlite(element: hour_floor, compiler: SQLCompiler, **kw: Any) -> str:
    [expr] = list(element.clauses)
    return f"strftime('%Y-%m-%d %H:00:00.000000', {compiler.process(expr, **kw)})"


@compiles(hour_floor, "postgresql")
def _hour_floor_postgresql(element: hour_floor, compiler: SQLCompiler, **kw: Any) -> str:
    [expr] = list(element.clauses)
    inner = compiler.process(expr, **kw)
    return f"(date_trunc('hour', {inner} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"


def purge(
    st: Storage,
    kind: str,
    cutoff: datetime,
    *,
    batch_size: int,
    pause_s: float = 0.01,
    should_stop: Callable[[], bool] = lambda: False,
) -> Purged:
    """Delete everything of `kind` older than `cutoff`, batch by batch (blocking)."""
    rows = batches = dropped = 0
    longest = 0.0
    t0 = time.monotonic()
    if kind == "samples" and partitions.partitioned(st):
        for day in partitions.expired(st, partitions.day_floor(cutoff)):
            if should_stop():
                break
            b0 = time.monotonic()
            rows += _drop_day(st, day)
            dropped += 1
            longest = max(longest, time.monotonic() - b0)
        cutoff = partitions.day_floor(cutoff)
    while not should_stop():
        b0 = time.monotonic()
        n, last = _batch(st, kind, cutoff, batch_size)
        longest = max(longest, time.monotonic() - b0)
        rows, batches = rows + n, batches + 1
        if last:
            break
        time.sleep(pause_s)  # let writers waiting for the lock go first
    return Purged(kind, rows, batches, time.monotonic() - t0, longest, dropped)

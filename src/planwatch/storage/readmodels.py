"""Read models for the dashboard and the JSON API: few, indexed queries per page.

Everything here only reads. Each function answers one question a page asks (the top queries
of a window, one query's time series, the alert counts of the overview...) in one or two
statements that the existing indexes serve on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from planwatch.errors import NotFound
from planwatch.model.alerts import Alert, AlertKind, AlertStatus
from planwatch.model.findings import Severity
from planwatch.model.jobs import JobRun, JobStatus
from planwatch.model.samples import QueryRef
from planwatch.storage import _sql, alerts, job_runs, queries
from planwatch.storage.engine import Storage
from planwatch.storage.queries import QuerySummary
from planwatch.storage.tables import ACTIVE_ALERT_STATUSES
from planwatch.storage.tables import alerts as a
from planwatch.storage.tables import job_runs as j
from planwatch.storage.tables import plans as p
from planwatch.storage.tables import queries as q
from planwatch.storage.tables import query_samples as s
from planwatch.storage.tables import targets as t

MAX_ID = 2**63 - 1  # larger ids cannot exist (and SQLite refuses to bind them)


@dataclass(frozen=True, slots=True)
class QueryInfo:
    pk: int
    ref: QueryRef
    text: str | None
    first_seen: datetime
    last_seen: datetime
    baseline_samples: int = 0


@dataclass(frozen=True, slots=True)
class RankedQuery:
    pk: int
    summary: QuerySummary


@dataclass(frozen=True, slots=True)
class Series:
    """One query's samples as parallel columns, oldest first (`t`: interval end, epoch s)."""

    t: list[float]
    calls: list[int]
    total_ms: list[float]
    mean_ms: list[float]
    rows: list[int]
    blks_hit: list[int]
    blks_read: list[int]
    blks_temp: list[int]
    plan_hash: list[str | None]


@dataclass(frozen=True, slots=True)
class PlanInfo:
    plan_hash: str
    engine_plan_hash: str | None
    first_seen: datetime
    last_seen: datetime
    plan_json: str
    raw: str


@dataclass(frozen=True, slots=True)
class TargetInfo:
    name: str
    engine: str
    environment: str
    tags: tuple[str, ...]
    enabled: bool
    up: bool | None
    last_error: str | None
    last_collected_at: datetime | None
    queries: int
    active_alerts: int


@dataclass(frozen=True, slots=True)
class WorkerJobs:
    running: int
    queued: int


def _valid_id(value: int) -> bool:
    return 0 < value <= MAX_ID


def query_info(st: Storage, pk: int) -> QueryInfo:
    if not _valid_id(pk):
        raise NotFound(f"query {pk} does not exist")
    with st.connect() as conn:
        row = conn.execute(sa.select(q, queries.baseline_samples(q.c.id).label("baseline_n"))
                           .where(q.c.id == pk)).one_or_none()
    if row is None:
        raise NotFound(f"query {pk} does not exist")
    return QueryInfo(row.id, queries.ref_from_row(row), row.text, row.first_seen, row.last_seen,
                     int(row.baseline_n))


def query_pks(st: Storage, refs: Sequence[tuple[str, str | None, str | None]]) -> dict[
    tuple[str, str, str], int
]:
    """Storage ids of (target, database, query_id) triples (to link alerts to query pages)."""
    wanted = sorted({(tg, db, qid) for tg, db, qid in refs if db is not None and qid is not None})
    found: dict[tuple[str, str, str], int] = {}
    with st.connect() as conn:
        for chunk in _sql.chunks(wanted, 300):
            # IN on each column of the unique (target, database, query_id) index: index seeks
            # on both backends (a row-value IN makes SQLite scan the whole index).
            stmt = sa.select(q.c.id, q.c.target, q.c.database, q.c.query_id).where(
                q.c.target.in_({w[0] for w in chunk}), q.c.database.in_({w[1] for w in chunk}),
                q.c.query_id.in_({w[2] for w in chunk}))
            found.update({(r.target, r.database, r.query_id): r.id for r in conn.execute(stmt)})
    keep = set(wanted)
    return {k: v for k, v in found.items() if k in keep}


RANKINGS = ("time", "io", "calls")


def top_queries(
    st: Storage, *, since: datetime, until: datetime, target: str | None = None, limit: int = 50,
    by: str = "time",
) -> list[RankedQuery]:
    """Queries ranked by total time (`by`: or physical I/O — blocks read plus temp blocks —
    or calls) in (since, until]: the samples are aggregated first (index on interval_end),
    then joined to the few query rows that made the cut."""
    total = sa.func.sum(s.c.total_ms).label("total_ms")
    rank = {"time": total, "io": sa.func.sum(s.c.blks_read + s.c.blks_temp),
            "calls": sa.func.sum(s.c.calls)}[by].label("rank_value")
    agg = (
        sa.select(
            s.c.query_pk,
            sa.func.sum(s.c.calls).label("calls"),
            total,
            rank,
            sa.func.sum(s.c.rows).label("sum_rows"),
            sa.func.count(sa.distinct(s.c.plan_hash)).label("plan_count"),
        )
        .where(s.c.interval_end > since, s.c.interval_end <= until)
        .group_by(s.c.query_pk)
    )
    if target is not None:
        agg = agg.where(s.c.query_pk.in_(sa.select(q.c.id).where(q.c.target == target)))
    ranked = agg.order_by(rank.desc(), s.c.query_pk).limit(limit).subquery()
    stmt = (
        sa.select(q, ranked.c.calls, ranked.c.total_ms, ranked.c.sum_rows, ranked.c.plan_count,
                  _last_plan(since, until).label("last_plan_hash"),
                  queries.baseline_samples(q.c.id).label("baseline_n"))
        .join(ranked, ranked.c.query_pk == q.c.id)
        .order_by(ranked.c.rank_value.desc(), q.c.id)
    )
    with st.connect() as conn:
        rows = conn.execute(stmt).all()
    return [RankedQuery(r.id, _summary(r, r.last_plan_hash)) for r in rows]


def _last_plan(since: datetime, until: datetime) -> sa.ScalarSelect[Any]:
    """The newest known plan hash of the outer query row in the window (primary-key seek)."""
    s2 = s.alias("s2")
    return (
        sa.select(s2.c.plan_hash)
        .where(s2.c.query_pk == q.c.id, s2.c.plan_hash.is_not(None))
        .where(s2.c.interval_end > since, s2.c.interval_end <= until)
        .order_by(s2.c.interval_start.desc())
        .limit(1)
        .scalar_subquery()
    )


def _summary(row: Any, last_plan_hash: str | None) -> QuerySummary:
    calls = int(row.calls or 0)
    total_ms = float(row.total_ms or 0.0)
    return QuerySummary(
        ref=queries.ref_from_row(row), text=row.text, calls=calls, total_ms=total_ms,
        mean_ms=total_ms / calls if calls else 0.0, rows=int(row.sum_rows or 0),
        plan_count=int(row.plan_count), last_plan_hash=last_plan_hash,
        first_seen=row.first_seen, last_seen=row.last_seen,
        baseline_samples=int(row.baseline_n or 0),
    )


class epoch(FunctionElement[float]):
    """A UTC timestamp column as Unix seconds, computed by the database: the chart needs
    numbers, and converting thousands of datetimes in Python dominated the query page."""

    type = sa.Float()
    name = "epoch"
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    (expr,) = list(element.clauses)
    return f"CAST(strftime('%s', {compiler.process(expr, **kw)}) AS REAL)"


@compiles(epoch, "postgresql")
def _epoch_postgresql(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    (expr,) = list(element.clauses)
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(expr, **kw)}) AS DOUBLE PRECISION)"


def series(st: Storage, pk: int, since: datetime, until: datetime) -> Series:
    stmt = (
        sa.select(
            epoch(s.c.interval_end), s.c.calls, s.c.total_ms, s.c.mean_ms, s.c.rows,
            s.c.blks_hit, s.c.blks_read, s.c.blks_temp, s.c.plan_hash,
        )
        .where(s.c.query_pk == pk, s.c.interval_end > since, s.c.interval_end <= until)
        .order_by(s.c.interval_start)
    )
    with st.connect() as conn:
        rows = conn.execute(stmt).all()
    cols: list[Any] = [list(c) for c in zip(*rows, strict=True)] if rows else [[]] * 9
    return Series(*cols)


def plan_history(st: Storage, pk: int) -> list[PlanInfo]:
    """Every plan the query has had, oldest first."""
    stmt = sa.select(p).where(p.c.query_pk == pk).order_by(p.c.first_seen, p.c.id)
    with st.connect() as conn:
        return [
            PlanInfo(r.plan_hash, r.engine_plan_hash, r.first_seen, r.last_seen, r.plan_json, r.raw)
            for r in conn.execute(stmt)
        ]


def find_alerts(
    st: Storage,
    *,
    status: str = "open",
    kind: str | None = None,
    severity: str | None = None,
    target: str | None = None,
    dedup_keys: Sequence[str] | None = None,
    limit: int = 200,
) -> list[Alert]:
    """Alerts, most recently updated first; status "open" means any active status.

    `dedup_keys` selects the alerts of given conditions (e.g. one query's) through the index.
    """
    stmt = sa.select(a).order_by(a.c.updated_at.desc().nulls_last(), a.c.id.desc()).limit(limit)
    if status == "open":
        stmt = stmt.where(a.c.status.in_(ACTIVE_ALERT_STATUSES))
    elif status != "all":
        stmt = stmt.where(a.c.status == AlertStatus(status).value)
    if kind is not None:
        stmt = stmt.where(a.c.kind == AlertKind(kind).value)
    if severity is not None:
        stmt = stmt.where(a.c.severity == Severity(severity).value)
    if target is not None:
        stmt = stmt.where(a.c.target == target)
    if dedup_keys is not None:
        stmt = stmt.where(a.c.dedup_key.in_(list(dedup_keys)))
    with st.connect() as conn:
        return [alerts._from_row(r) for r in conn.execute(stmt)]


def get_alert(st: Storage, alert_id: int) -> Alert:
    if not _valid_id(alert_id):
        raise NotFound(f"alert {alert_id} does not exist")
    return alerts.get(st, alert_id)


def top_regressions(st: Storage, limit: int = 10) -> list[Alert]:
    """Active regression alerts, the largest slowdown first."""
    stmt = (
        sa.select(a)
        .where(a.c.status.in_(ACTIVE_ALERT_STATUSES), a.c.kind == AlertKind.REGRESSION.value)
        .order_by(a.c.ratio.desc().nulls_last(), a.c.id.desc())
        .limit(limit)
    )
    with st.connect() as conn:
        return [alerts._from_row(r) for r in conn.execute(stmt)]


def alert_counts(st: Storage) -> dict[tuple[str, str], int]:
    """Active alerts by (status, severity)."""
    stmt = (
        sa.select(a.c.status, a.c.severity, sa.func.count())
        .where(a.c.status.in_(ACTIVE_ALERT_STATUSES))
        .group_by(a.c.status, a.c.severity)
    )
    with st.connect() as conn:
        return {(r[0], r[1]): int(r[2]) for r in conn.execute(stmt)}


def open_alerts(st: Storage) -> dict[tuple[str, str, str], int]:
    """Active alerts by (kind, severity, status), in one `COUNT ... GROUP BY` (/metrics asks
    this on every scrape)."""
    stmt = (
        sa.select(a.c.kind, a.c.severity, a.c.status, sa.func.count())
        .where(a.c.status.in_(ACTIVE_ALERT_STATUSES))
        .group_by(a.c.kind, a.c.severity, a.c.status)
    )
    with st.connect() as conn:
        return {(r[0], r[1], r[2]): int(r[3]) for r in conn.execute(stmt)}


def target_infos(st: Storage, name: str | None = None) -> list[TargetInfo]:
    """Targets with their status, number of known queries and of active alerts."""
    nq = sa.select(q.c.target, sa.func.count().label("n")).group_by(q.c.target).subquery()
    na = (
        sa.select(a.c.target, sa.func.count().label("n"))
        .where(a.c.status.in_(ACTIVE_ALERT_STATUSES))
        .group_by(a.c.target)
        .subquery()
    )
    stmt = (
        sa.select(t, nq.c.n.label("nq"), na.c.n.label("na"))
        .outerjoin(nq, nq.c.target == t.c.name)
        .outerjoin(na, na.c.target == t.c.name)
        .order_by(t.c.name)
    )
    if name is not None:
        stmt = stmt.where(t.c.name == name)
    with st.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        TargetInfo(r.name, r.engine, r.environment, tuple(r.tags or ()), r.enabled, r.up,
                   r.last_error, r.last_collected_at, int(r.nq or 0), int(r.na or 0))
        for r in rows
    ]


def target_info(st: Storage, name: str) -> TargetInfo:
    found = target_infos(st, name)
    if not found:
        raise NotFound(f"target {name!r} does not exist")
    return found[0]


def find_job_runs(
    st: Storage,
    *,
    status: str | None = None,
    job_type: str | None = None,
    target: str | None = None,
    worker_id: str | None = None,
    limit: int = 100,
) -> list[JobRun]:
    """The newest job runs first, optionally filtered (status: a JobStatus value)."""
    stmt = sa.select(j).order_by(j.c.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(j.c.status == JobStatus(status).value)
    for column, value in ((j.c.job_type, job_type), (j.c.target, target),
                          (j.c.worker_id, worker_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    with st.connect() as conn:
        return [job_runs._from_row(r) for r in conn.execute(stmt)]


def worker_jobs(st: Storage, since: datetime) -> dict[str, WorkerJobs]:
    """Running and queued job runs per worker among runs scheduled after `since`."""
    active = (JobStatus.RUNNING.value, JobStatus.QUEUED.value)
    stmt = (
        sa.select(j.c.worker_id, j.c.status, sa.func.count())
        .where(j.c.status.in_(active), j.c.scheduled_at > since)
        .group_by(j.c.worker_id, j.c.status)
    )
    counts: dict[str, dict[str, int]] = {}
    with st.connect() as conn:
        for worker_id, status, n in conn.execute(stmt):
            counts.setdefault(worker_id, {})[status] = int(n)
    return {
        w: WorkerJobs(c.get(JobStatus.RUNNING.value, 0), c.get(JobStatus.QUEUED.value, 0))
        for w, c in counts.items()
    }


def running_jobs(st: Storage, since: datetime, limit: int = 50) -> list[JobRun]:
    stmt = (
        sa.select(j)
        .where(j.c.status == JobStatus.RUNNING.value, j.c.scheduled_at > since)
        .order_by(j.c.id.desc())
        .limit(limit)
    )
    with st.connect() as conn:
        return [job_runs._from_row(r) for r in conn.execute(stmt)]


def heartbeat_health(
    status: str, last_heartbeat: datetime | None, now: datetime, interval: timedelta
) -> str:
    """healthy / late / stale from heartbeat age (stopped and dead workers keep their status)."""
    if status in ("Stopped", "Dead"):
        return status.lower()
    if last_heartbeat is None:
        return "stale"
    age = now - last_heartbeat
    if age <= interval * 2:
        return "healthy"
    return "late" if age <= interval * 4 else "stale"

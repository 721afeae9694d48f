"""Read model of the daily summary: alert and check-result counts over a time window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from planwatch.model.alerts import Alert
from planwatch.storage import alerts as alert_store
from planwatch.storage.engine import Storage
from planwatch.storage.tables import ACTIVE_ALERT_STATUSES
from planwatch.storage.tables import alert_events as ev
from planwatch.storage.tables import alerts as a
from planwatch.storage.tables import check_results as cr
from planwatch.storage.tables import plans as p

SELF = "planwatch"  # the target of planwatch's own health alerts
SEEN = ("pending", "opened", "reopened")  # the events of a condition first seen


@dataclass(frozen=True, slots=True)
class AlertWindow:
    new: list[Alert]  # opened (or reopened) in the window
    resolved: list[Alert]  # resolved in the window
    ongoing: list[Alert]  # active now


def alerts_in(
    st: Storage, since: datetime, until: datetime, *, kind: str | None = None, limit: int = 1000
) -> AlertWindow:
    """New, resolved and ongoing alerts (of one kind, or all), newest first."""
    base = sa.select(a).order_by(a.c.id.desc()).limit(limit)
    if kind is not None:
        base = base.where(a.c.kind == kind)
    new = base.where(a.c.opened_at >= since, a.c.opened_at < until)
    resolved = base.where(a.c.status == "resolved", a.c.resolved_at >= since,
                          a.c.resolved_at < until)
    ongoing = base.where(a.c.status.in_(ACTIVE_ALERT_STATUSES))
    with st.connect() as conn:
        return AlertWindow(*[
            [alert_store.from_row(r) for r in conn.execute(stmt)]
            for stmt in (new, resolved, ongoing)
        ])


def check_outcomes(st: Storage, since: datetime, until: datetime) -> dict[str, int]:
    """Check results in the window by status (ok, warning, critical, error)."""
    stmt = (
        sa.select(cr.c.status, sa.func.count())
        .where(cr.c.executed_at >= since, cr.c.executed_at < until)
        .group_by(cr.c.status)
    )
    with st.connect() as conn:
        return {status: int(n) for status, n in conn.execute(stmt)}


def failing_checks(st: Storage, since: datetime, until: datetime, limit: int = 10) -> list[str]:
    """Names of checks (with their target) that were not ok at least once in the window."""
    stmt = (
        sa.select(cr.c.check_name, cr.c.target)
        .where(cr.c.executed_at >= since, cr.c.executed_at < until, cr.c.status != "ok")
        .group_by(cr.c.check_name, cr.c.target)
        .order_by(cr.c.check_name, cr.c.target)
        .limit(limit)
    )
    with st.connect() as conn:
        return [f"{name} on {target}" for name, target in conn.execute(stmt)]


def plan_changes(st: Storage, since: datetime, until: datetime) -> int:
    """Plans first seen in the window for queries that already had another plan."""
    newer, older = p.alias("newer"), p.alias("older")
    had_one = sa.select(older.c.id).where(
        older.c.query_pk == newer.c.query_pk, older.c.first_seen < newer.c.first_seen).exists()
    stmt = sa.select(sa.func.count()).select_from(newer).where(
        newer.c.first_seen >= since, newer.c.first_seen < until, had_one)
    with st.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def health_findings(st: Storage, since: datetime, until: datetime) -> dict[str, int]:
    """Collector-health conditions (on monitored targets) seen in the window, by component."""
    stmt = (
        sa.select(a.c.subject, sa.func.count(sa.distinct(a.c.id)))
        .select_from(a.join(ev, ev.c.alert_id == a.c.id))
        .where(a.c.kind == "health", a.c.target != SELF, ev.c.event.in_(SEEN),
               ev.c.at >= since, ev.c.at < until)
        .group_by(a.c.subject)
    )
    with st.connect() as conn:
        return {subject: int(n) for subject, n in conn.execute(stmt)}

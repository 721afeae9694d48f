"""What the detection scenario suite reads from planwatch's storage (observation only)."""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from planwatch.devtools import shopload
from planwatch.errors import StorageError
from planwatch.storage.engine import Storage
from planwatch.storage.tables import alerts as alerts_table
from planwatch.storage.tables import baselines as baselines_table
from planwatch.storage.tables import job_runs as job_runs_table
from planwatch.storage.tables import queries as queries_table
from planwatch.storage.tables import query_samples as query_samples_table


def prefix(shape: str) -> str:
    """The statement's text up to its first parameter or literal (pg_stat_statements
    replaces literals with $n), as a LIKE prefix."""
    return re.split(r"%s|\d|'", shopload.shape(shape).sql, maxsplit=1)[0].strip()[:60]


def _shape_filter(shape: str) -> Any:
    return queries_table.c.text.like(f"{prefix(shape)}%")


def usable(storage: Storage, wanted: dict[str, str]) -> bool:
    """Every wanted statement has a baseline of `min_baseline_samples` (12) intervals."""
    q, b = queries_table, baselines_table
    with contextlib.suppress(StorageError), storage.connect() as conn:  # not migrated yet
        for target, shape in wanted.items():
            stmt = (sa.select(sa.func.max(b.c.n)).join(q, q.c.id == b.c.query_pk)
                    .where(q.c.target == target, b.c.plan_hash == "", _shape_filter(shape)))
            n = conn.execute(stmt).scalar()
            if not n or n < 12:
                return False
        return True
    return False


def alert_for(storage: Storage, target: str, shape: str | None, since: datetime) -> dict[
        str, Any] | None:
    """The regression alert on the statement opened (not pending) after `since`."""
    if shape is None:
        return None
    a, q = alerts_table, queries_table
    stmt = (sa.select(a).join(q, sa.and_(q.c.target == a.c.target,
                                          q.c.database == a.c.database,
                                          q.c.query_id == a.c.query_id))
            .where(a.c.target == target, a.c.kind == "regression",
                   a.c.status != "pending", a.c.opened_at > since, _shape_filter(shape))
            .order_by(a.c.id))
    with storage.connect() as conn:
        row = conn.execute(stmt).first()
    return dict(row._mapping) if row is not None else None


def false_alerts(storage: Storage, target: str, shape: str | None) -> list[str]:
    """Regression and hotspot alerts of the target other than the expected one."""
    a, q = alerts_table, queries_table
    stmt = (sa.select(a.c.kind, a.c.title, a.c.status, q.c.text)
            .outerjoin(q, sa.and_(q.c.target == a.c.target, q.c.database == a.c.database,
                                  q.c.query_id == a.c.query_id))
            .where(a.c.target == target, a.c.kind.in_(("regression", "hotspot")),
                   a.c.status != "pending"))
    out = []
    with storage.connect() as conn:
        for row in conn.execute(stmt):
            mine = shape is not None and row.kind == "regression" and (
                row.text or "").startswith(prefix(shape))
            if not mine:
                out.append(f"{row.kind}: {row.title} [{(row.text or '')[:50]}]")
    return out


def summary(alert: dict[str, Any]) -> str:
    d = alert["details"]
    parts = [f"{alert['ratio']}x"]
    if d.get("plan_diff"):
        parts.append("; ".join(d["plan_diff"][:2]))
    if d.get("waits", {}).get("summary"):
        parts.append(d["waits"]["summary"])
    if d.get("spill"):
        parts.append(d["spill"])
    if d.get("plan_reason_text"):
        parts.append(d["plan_reason_text"])
    advice = d.get("index_advice") or {}
    if advice.get("cost_with") is not None:
        parts.append(f"index {', '.join(advice['index'])}: cost {advice['cost_without']:g} -> "
                     f"{advice['cost_with']:g}")
    return " | ".join(parts)


def learning(storage: Storage) -> list[dict[str, Any]]:
    """Per statement with a usable baseline: when its `min_baseline_samples`-th (12th) clean
    interval ended, and how much later its baseline became usable (at the next analysis)."""
    q, b, smp = queries_table, baselines_table, query_samples_table
    twelfth = (sa.select(smp.c.interval_end).where(smp.c.query_pk == q.c.id, ~smp.c.held_out)
               .order_by(smp.c.interval_start).offset(11).limit(1).scalar_subquery())
    stmt = (sa.select(q.c.target, q.c.text, q.c.first_seen, b.c.n, b.c.computed_at,
                      twelfth.label("twelfth"))
            .join(b, b.c.query_pk == q.c.id).where(b.c.plan_hash == "", b.c.n >= 12))
    with storage.connect() as conn:
        rows = conn.execute(stmt).all()
    return [{"target": r.target, "text": (r.text or "")[:60], "n": r.n,
             "first_seen": r.first_seen, "usable_at": r.computed_at,
             "after_12th_s": (r.computed_at - r.twelfth).total_seconds() if r.twelfth else None}
            for r in rows]


def explains(storage: Storage) -> dict[str, int]:
    """Plans captured per target over the run (collection job runs' data)."""
    runs = job_runs_table
    stmt = sa.select(runs.c.target, runs.c.data).where(runs.c.job_type == "collection")
    out: dict[str, int] = {}
    with storage.connect() as conn:
        for target, data in conn.execute(stmt):
            out[target] = out.get(target, 0) + int((data or {}).get("plans", 0))
    return out


def after_onset(alert: dict[str, Any]) -> float | None:
    """Seconds from the slowdown's first slow interval (as the alert says) to its opening."""
    since = alert["details"].get("slowdown_since")
    if not since or alert["opened_at"] is None:
        return None
    opened: datetime = alert["opened_at"]
    return round(float((opened - datetime.fromisoformat(since)).total_seconds()), 1)

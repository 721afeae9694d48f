"""What the detection scenario suite (`devtools.scenarios`) reads from planwatch's storage to
judge a run: observation only. Statements are found by the prefix of their normalized text."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from planwatch.errors import StorageError
from planwatch.storage.engine import Storage
from planwatch.storage.tables import alerts as alerts_table
from planwatch.storage.tables import baselines as baselines_table
from planwatch.storage.tables import job_runs as job_runs_table
from planwatch.storage.tables import queries as queries_table
from planwatch.storage.tables import query_samples as query_samples_table


def _text_filter(text_prefix: str) -> Any:
    return queries_table.c.text.like(f"{text_prefix}%")


def usable(storage: Storage, wanted: Mapping[str, str]) -> bool:
    """Every wanted statement (target -> text prefix) has a baseline of
    `min_baseline_samples` (12) intervals."""
    q, b = queries_table, baselines_table
    with contextlib.suppress(StorageError), storage.connect() as conn:  # not migrated yet
        for target, text_prefix in wanted.items():
            stmt = (sa.select(sa.func.max(b.c.n)).join(q, q.c.id == b.c.query_pk)
                    .where(q.c.target == target, b.c.plan_hash == "", _text_filter(text_prefix)))
            n = conn.execute(stmt).scalar()
            if not n or n < 12:
                return False
        return True
    return False


def alert_for(
    storage: Storage, target: str, text_prefix: str, since: datetime
) -> dict[str, Any] | None:
    """The regression alert on the statement opened (not pending) after `since`."""
    a, q = alerts_table, queries_table
    stmt = (sa.select(a).join(q, sa.and_(q.c.target == a.c.target,
                                          q.c.database == a.c.database,
                                          q.c.query_id == a.c.query_id))
            .where(a.c.target == target, a.c.kind == "regression",
                   a.c.status != "pending", a.c.opened_at > since, _text_filter(text_prefix))
            .order_by(a.c.id))
    with storage.connect() as conn:
        row = conn.execute(stmt).first()
    return dict(row._mapping) if row is not None else None


def false_alerts(storage: Storage, target: str, text_prefix: str | None) -> list[str]:
    """Regression and hotspot alerts of the target that opened (were notified), other than
    the expected one (the regression of the statement starting with `text_prefix`, if any)."""
    return _others(storage, target, text_prefix, opened=True)


def dropped_pending(storage: Storage, target: str, text_prefix: str | None) -> list[str]:
    """The same, for alerts that stayed pending and were dropped: never notified, shown for
    transparency (the `for` period is what keeps them from paging anyone)."""
    return _others(storage, target, text_prefix, opened=False)


def _others(storage: Storage, target: str, text_prefix: str | None, *, opened: bool) -> list[str]:
    a, q = alerts_table, queries_table
    stmt = (sa.select(a.c.kind, a.c.title, q.c.text)
            .outerjoin(q, sa.and_(q.c.target == a.c.target, q.c.database == a.c.database,
                                  q.c.query_id == a.c.query_id))
            .where(a.c.target == target, a.c.kind.in_(("regression", "hotspot")),
                   a.c.status != "pending",
                   a.c.opened_at.is_not(None) if opened else a.c.opened_at.is_(None)))
    out = []
    with storage.connect() as conn:
        for row in conn.execute(stmt):
            mine = text_prefix is not None and row.kind == "regression" and (
                row.text or "").startswith(text_prefix)
            if not mine:
                out.append(f"{row.kind}: {row.title} [{(row.text or '')[:50]}]")
    return out


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

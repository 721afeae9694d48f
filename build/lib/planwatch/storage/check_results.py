"""Check results (one row per evaluation) and the database monitoring summary read model."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from planwatch.model.checks import CheckResult, CheckStatus, CheckSummary
from planwatch.storage.engine import Storage
from planwatch.storage.tables import check_results as r


def insert(st: Storage, results: Sequence[CheckResult]) -> int:
    """Append results in one transaction (one executemany); returns how many."""
    if not results:
        return 0
    with st.begin() as conn:
        conn.execute(sa.insert(r), [_row(x) for x in results])
    return len(results)


def recent(
    st: Storage, *, check: str | None = None, target: str | None = None, limit: int = 100
) -> list[CheckResult]:
    """The newest results first, optionally of one check and/or target."""
    stmt = sa.select(r).order_by(r.c.executed_at.desc(), r.c.id.desc()).limit(limit)
    if check is not None:
        stmt = stmt.where(r.c.check_name == check)
    if target is not None:
        stmt = stmt.where(r.c.target == target)
    with st.connect() as conn:
        return [_from_row(row) for row in conn.execute(stmt)]


def summary(st: Storage, now: datetime, *, days: int = 7) -> list[CheckSummary]:
    """Per (check, target): the last run's worst status and time, and the success rate
    (share of `ok` evaluations) over the last `days` days; ordered by check, target."""
    since = now - timedelta(days=days)
    window = (
        sa.select(
            r.c.check_name, r.c.target,
            sa.func.count().label("runs"),
            sa.func.sum(sa.case((r.c.status == CheckStatus.OK.value, 1), else_=0)).label("ok"),
            sa.func.max(r.c.executed_at).label("last_at"),
        )
        .where(r.c.executed_at >= since)
        .group_by(r.c.check_name, r.c.target)
        .subquery()
    )
    last = (
        sa.select(r, window.c.runs, window.c.ok)
        .join(window, sa.and_(r.c.check_name == window.c.check_name,
                              r.c.target == window.c.target,
                              r.c.executed_at == window.c.last_at))
        .order_by(r.c.check_name, r.c.target, r.c.id)
    )
    found: dict[tuple[str, str], CheckSummary] = {}
    with st.connect() as conn:
        for row in conn.execute(last):
            key = (row.check_name, row.target)
            status = CheckStatus(row.status)
            current = found.get(key)
            if current is not None and current.last_status.rank >= status.rank:
                continue  # a dataset run has several rows: keep the worst
            found[key] = CheckSummary(
                check=row.check_name, target=row.target, last_status=status,
                last_at=row.executed_at, last_message=row.message, last_value=row.value,
                runs=int(row.runs), ok=int(row.ok or 0), window_days=days,
            )
    return list(found.values())


def delete_before(st: Storage, before: datetime, *, batch_size: int = 5000) -> int:
    """Delete results older than `before` in batches (retention); returns rows deleted."""
    total = 0
    while True:
        ids = sa.select(r.c.id).where(r.c.executed_at < before).limit(batch_size)
        with st.begin() as conn:
            done = conn.execute(sa.delete(r).where(r.c.id.in_(ids.scalar_subquery()))).rowcount
        total += done
        if done < batch_size:
            return total


def _row(x: CheckResult) -> dict[str, Any]:
    return {
        "check_name": x.check, "target": x.target, "labels": x.labels_dict,
        "status": CheckStatus(x.status).value, "value": x.value, "value_text": x.value_text,
        "duration_ms": x.duration_ms, "message": x.message, "executed_at": x.executed_at,
        "job_run_id": x.job_run_id,
    }


def _from_row(row: Any) -> CheckResult:
    return CheckResult(
        check=row.check_name, target=row.target, status=CheckStatus(row.status),
        message=row.message, executed_at=row.executed_at, duration_ms=row.duration_ms,
        value=row.value, value_text=row.value_text,
        labels=tuple((str(k), str(v)) for k, v in (row.labels or {}).items()),
        job_run_id=row.job_run_id,
    )

"""Column-wise executemany (`_sql.execute_columns`): values, shared objects, row counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from planwatch.storage import _sql
from planwatch.storage.engine import Storage
from planwatch.storage.tables import alerts

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def columns(n: int, details: list[dict[str, Any]], opened: list[datetime]) -> dict[str, list[Any]]:
    return {
        "dedup_key": [f"k{i}" for i in range(n)], "kind": ["regression"] * n,
        "status": ["open"] * n, "severity": ["warning"] * n, "target": ["db"] * n,
        "subject": [str(i) for i in range(n)], "title": [f"t{i}" for i in range(n)],
        "plan_changed": [i % 2 == 0 for i in range(n)], "ratio": [1.5 * i for i in range(n)],
        "opened_at": opened, "normal_windows": [0] * n, "details": details,
    }


def test_rows_keep_their_own_values_when_objects_are_shared(storage: Storage) -> None:
    shared: dict[str, Any] = {"channels": ["team", "pager"], "note": "ü"}
    details: list[dict[str, Any]] = [shared, shared, {"other": 1}]
    opened = [T0, T0, T0 + timedelta(minutes=5)]
    with storage.begin() as conn:
        stmt = _sql.insert(conn, alerts)
        assert _sql.execute_columns(conn, stmt, alerts, columns(3, details, opened)) == 3
    with storage.connect() as conn:
        rows = conn.execute(sa.select(alerts).order_by(alerts.c.dedup_key)).all()
    assert [r.details for r in rows] == [shared, shared, {"other": 1}]
    assert [r.opened_at for r in rows] == opened
    assert [r.plan_changed for r in rows] == [True, False, True]
    assert [r.ratio for r in rows] == [0.0, 1.5, 3.0]


def test_no_rows_is_no_statement(storage: Storage) -> None:
    with storage.begin() as conn:
        stmt = _sql.insert(conn, alerts)
        assert _sql.execute_columns(conn, stmt, alerts, columns(0, [], [])) == 0
    with storage.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(alerts)).scalar() == 0

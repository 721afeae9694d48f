"""The /metrics read of open alerts: counts by kind, severity and status in one statement, on
SQLite and PostgreSQL, whatever the number of alerts."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from test_storage_alerts import T0, alert

from planwatch.model.alerts import AlertKind, AlertStatus
from planwatch.model.findings import Severity
from planwatch.storage import alerts, readmodels
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration


def test_open_alerts_are_counted_in_one_group_by(storage: Storage) -> None:
    made = [
        (AlertKind.REGRESSION, Severity.WARNING, AlertStatus.OPEN),
        (AlertKind.REGRESSION, Severity.WARNING, AlertStatus.OPEN),
        (AlertKind.REGRESSION, Severity.CRITICAL, AlertStatus.ACKNOWLEDGED),
        (AlertKind.CHECK, Severity.WARNING, AlertStatus.PENDING),
        (AlertKind.HEALTH, Severity.CRITICAL, AlertStatus.RESOLVED),  # not active
    ]
    for i, (kind, severity, status) in enumerate(made):
        alerts.create(storage, alert(f"k{i}", kind=kind, severity=severity, status=status,
                                     resolved_at=T0 if status is AlertStatus.RESOLVED else None),
                      actor="test")
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    sa.event.listen(storage.engine, "before_cursor_execute", seen)
    try:
        counts = readmodels.open_alerts(storage)
    finally:
        sa.event.remove(storage.engine, "before_cursor_execute", seen)
    assert counts == {
        ("regression", "warning", "open"): 2,
        ("regression", "critical", "acknowledged"): 1,
        ("check", "warning", "pending"): 1,
    }
    (select,) = [s for s in statements if "alerts" in s]
    assert "count(" in select.lower() and "group by" in select.lower()

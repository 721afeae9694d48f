"""alerts: lifecycle persistence, audit trail and the one-active-alert-per-key rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from planwatch.errors import NotFound, StorageConflict
from planwatch.model.alerts import Alert, AlertEvent, AlertKind, AlertStatus
from planwatch.model.findings import Severity
from planwatch.storage import alerts
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def alert(key: str = "regression|pg1|shop|101", **kw: object) -> Alert:
    base = Alert(
        id=None,
        dedup_key=key,
        kind=AlertKind.REGRESSION,
        status=AlertStatus.OPEN,
        severity=Severity.WARNING,
        target="pg1",
        database="shop",
        subject="101",
        title="query 101 is 3.0x slower",
        query_id="101",
        query_text="SELECT * FROM orders WHERE id = $1",
        plan_changed=True,
        baseline_ms=1.5,
        current_ms=4.5,
        ratio=3.0,
        opened_at=T0,
        updated_at=T0,
        details={"old_plan": "h1", "new_plan": "h2", "diff": ["orders: Index Scan -> Seq Scan"]},
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_create_get_update_and_events(storage: Storage) -> None:
    created = alerts.create(storage, alert(), actor="analysis", message="detected")
    assert created.id is not None
    got = alerts.get(storage, created.id)
    assert got == created and got.details == created.details

    later = T0 + timedelta(minutes=15)
    acked = replace(created, status=AlertStatus.ACKNOWLEDGED, updated_at=later, normal_windows=1)
    alerts.update(
        storage, acked, event="acknowledged", actor="alice", message="looking", data={"via": "cli"}
    )
    alerts.update(storage, replace(acked, ratio=3.5))  # no event
    alerts.add_event(storage, AlertEvent(created.id, later, "notified", "outbox", "slack"))

    assert alerts.get(storage, created.id) == replace(acked, ratio=3.5)
    trail = alerts.events(storage, created.id)
    assert [(e.event, e.actor, e.message) for e in trail] == [
        ("opened", "analysis", "detected"),
        ("acknowledged", "alice", "looking"),
        ("notified", "outbox", "slack"),
    ]
    assert trail[0].at == T0 and trail[1].data == {"via": "cli"}

    with pytest.raises(NotFound):
        alerts.get(storage, 999_999)
    with pytest.raises(NotFound):
        alerts.update(storage, replace(created, id=999_999))


def test_only_one_active_alert_per_dedup_key(storage: Storage) -> None:
    first = alerts.create(storage, alert(), actor="analysis")
    with pytest.raises(StorageConflict):
        alerts.create(storage, alert(status=AlertStatus.PENDING), actor="analysis")
    assert len(alerts.list_alerts(storage, status="all")) == 1  # the twin left no trace

    resolved_at = T0 + timedelta(hours=1)
    alerts.update(
        storage,
        replace(
            first, status=AlertStatus.RESOLVED, resolved_at=resolved_at, updated_at=resolved_at
        ),
        event="resolved",
        actor="analysis",
    )
    second = alerts.create(storage, alert(opened_at=resolved_at + timedelta(hours=5)), actor="a")
    assert second.id != first.id
    assert set(alerts.find_active(storage)) == {first.dedup_key}


def test_find_active_list_and_recently_resolved(storage: Storage) -> None:
    a = alerts.create(storage, alert("k-a"), actor="t")
    b = alerts.create(
        storage,
        alert(
            "k-b",
            kind=AlertKind.CHECK,
            target="pg2",
            status=AlertStatus.PENDING,
            updated_at=T0 + timedelta(minutes=1),
        ),
        actor="t",
    )
    c = alerts.create(
        storage,
        alert(
            "k-c",
            status=AlertStatus.RESOLVED,
            resolved_at=T0 + timedelta(minutes=2),
            updated_at=T0 + timedelta(minutes=2),
        ),
        actor="t",
    )
    old = alerts.create(
        storage, alert("k-c", status=AlertStatus.RESOLVED, resolved_at=T0, updated_at=T0), actor="t"
    )

    assert alerts.find_active(storage) == {"k-a": a, "k-b": b}
    assert alerts.find_active(storage, ["k-b", "k-c", "k-zzz"]) == {"k-b": b}
    assert alerts.find_active(storage, []) == {}
    assert alerts.find_active(storage, target="pg2") == {"k-b": b}  # one target's, for analysis

    assert [x.id for x in alerts.list_alerts(storage)] == [b.id, a.id]
    assert [x.id for x in alerts.list_alerts(storage, status="all")] == [c.id, b.id, old.id, a.id]
    assert [x.id for x in alerts.list_alerts(storage, status="resolved")] == [c.id, old.id]
    assert [x.id for x in alerts.list_alerts(storage, status="pending")] == [b.id]
    assert [x.id for x in alerts.list_alerts(storage, status="all", kind="check")] == [b.id]
    assert [x.id for x in alerts.list_alerts(storage, target="pg1")] == [a.id]
    assert len(alerts.list_alerts(storage, status="all", limit=2)) == 2
    with pytest.raises(ValueError):
        alerts.list_alerts(storage, status="bogus")

    assert alerts.recently_resolved(storage, ["k-a", "k-c"], T0) == {"k-c": c}
    assert alerts.recently_resolved(storage, ["k-c"], T0 + timedelta(minutes=3)) == {}

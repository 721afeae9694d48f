"""Pending alerts (`for`): a condition must hold before its alert opens; one that goes away
first is dropped; a reused (reopened) alert goes through pending too."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from planwatch.alerting import lifecycle
from planwatch.alerting.lifecycle import Action
from planwatch.model.alerts import AlertStatus
from planwatch.model.findings import Cause, HealthFinding, Regression, Severity
from planwatch.model.samples import QueryRef

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REF = QueryRef("orders-db", "shop", "101", "fp")
WINDOW = timedelta(minutes=15)


def slow(severity: Severity = Severity.CRITICAL) -> Regression:
    return Regression(REF, severity, Cause.PLAN_CHANGE, 2.0, 12.0, 6.0, 0.001, 5e3, 100, 1000,
                      "h1", "h2")


def analyse(active: dict, minute: int, found: bool) -> lifecycle.Transition:  # type: ignore[type-arg]
    [t] = lifecycle.regressions(active, [slow()] if found else [], [] if found else [REF],
                                texts={}, resolve_after_windows=3, for_=WINDOW,
                                now=T0 + timedelta(minutes=minute))
    return t


def test_pending_until_the_condition_held_for_one_window() -> None:
    first = analyse({}, 0, True)
    assert (first.action, first.alert.status) == (Action.PEND, AlertStatus.PENDING)
    assert first.records_event and first.alert.opened_at is None
    active = {first.alert.dedup_key: replace(first.alert, id=1)}
    for minute in (5, 10):
        tick = analyse(active, minute, True)
        assert (tick.action, tick.alert.status, tick.was) == (
            Action.TICK, AlertStatus.PENDING, AlertStatus.PENDING)
        assert tick.alert.pending_since == T0
        active = {tick.alert.dedup_key: tick.alert}
    opened = analyse(active, 15, True)
    assert (opened.action, opened.alert.status, opened.was) == (
        Action.OPEN, AlertStatus.OPEN, AlertStatus.PENDING)
    assert opened.alert.opened_at == T0 + WINDOW and opened.alert.pending_since is None
    assert opened.message.endswith("(held for 15m00s)")


def test_a_severity_change_while_pending_is_no_update() -> None:
    first = analyse({}, 0, True)
    active = {first.alert.dedup_key: replace(first.alert, id=1)}
    [t] = lifecycle.regressions(active, [slow(Severity.WARNING)], [], texts={},
                                resolve_after_windows=3, for_=WINDOW,
                                now=T0 + timedelta(minutes=5))
    assert t.action is Action.TICK and t.alert.severity is Severity.WARNING


def test_a_pending_condition_that_goes_away_is_dropped_at_once() -> None:
    first = analyse({}, 0, True)
    active = {first.alert.dedup_key: replace(first.alert, id=1)}
    dropped = analyse(active, 5, False)
    assert (dropped.action, dropped.alert.status) == (Action.DROP, AlertStatus.RESOLVED)
    assert dropped.alert.resolved_at == T0 + timedelta(minutes=5)
    assert dropped.message == "normal again after 5m00s pending; never notified"


def test_zero_for_opens_at_once() -> None:
    [t] = lifecycle.regressions({}, [slow()], [], texts={}, resolve_after_windows=3, now=T0)
    assert t.action is Action.OPEN and t.alert.opened_at == T0 and t.was is None


def test_a_reused_alert_is_pending_first_and_then_reopened() -> None:
    opened = replace(analyse({}, 0, True).alert, id=9, status=AlertStatus.RESOLVED,
                     opened_at=T0 - timedelta(hours=1), resolved_at=T0)
    again = lifecycle.reopen([analyse({}, 30, True)], {opened.dedup_key: opened},
                             now=T0 + timedelta(minutes=30))
    [pending] = again
    assert (pending.action, pending.alert.id, pending.alert.status, pending.was) == (
        Action.PEND, 9, AlertStatus.PENDING, AlertStatus.RESOLVED)
    assert pending.alert.resolved_at is None and pending.alert.opened_at is not None
    active = {pending.alert.dedup_key: pending.alert}
    reopened = analyse(active, 45, True)
    assert (reopened.action, reopened.alert.status) == (Action.REOPEN, AlertStatus.OPEN)
    assert reopened.alert.opened_at == T0 + timedelta(minutes=45)


def test_a_dropped_pending_alert_reused_opens_rather_than_reopens() -> None:
    dropped = replace(analyse({}, 0, True).alert, id=9, status=AlertStatus.RESOLVED,
                      resolved_at=T0 + timedelta(minutes=5))
    [t] = lifecycle.reopen(
        lifecycle.regressions({}, [slow()], [], texts={}, resolve_after_windows=3,
                              now=T0 + timedelta(minutes=10)),
        {dropped.dedup_key: dropped}, now=T0 + timedelta(minutes=10))
    assert (t.action, t.alert.id, t.alert.status) == (Action.OPEN, 9, AlertStatus.OPEN)


def test_health_findings_wait_too() -> None:
    f = HealthFinding("orders-db", "unreachable", Severity.CRITICAL, "down")
    [t] = lifecycle.health({}, [f], evaluated_targets=["orders-db"], resolve_after_windows=1,
                           for_=timedelta(minutes=1), now=T0)
    assert t.action is Action.PEND
    active = {t.alert.dedup_key: replace(t.alert, id=1)}
    [o] = lifecycle.health(active, [f], evaluated_targets=["orders-db"], resolve_after_windows=1,
                           for_=timedelta(minutes=1), now=T0 + timedelta(minutes=1))
    assert o.action is Action.OPEN

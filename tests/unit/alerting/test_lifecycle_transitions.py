"""Pure lifecycle: evaluation stamps, flap protection by resolve windows and reopening."""

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


def slow(ratio: float = 6.0, severity: Severity = Severity.CRITICAL) -> Regression:
    return Regression(REF, severity, Cause.PLAN_CHANGE, 2.0, 2.0 * ratio, ratio, 0.001, 5e3,
                      100, 1000, "h1", "h2")


def test_open_then_tick_then_resolve_after_the_windows() -> None:
    [opened] = lifecycle.regressions({}, [slow()], [], texts={}, resolve_after_windows=2, now=T0)
    assert opened.action is Action.OPEN and opened.alert.evaluated_at == T0
    active = {opened.alert.dedup_key: replace(opened.alert, id=1)}
    t1 = T0 + timedelta(minutes=5)
    [tick] = lifecycle.regressions(active, [], [REF], texts={}, resolve_after_windows=2, now=t1)
    assert tick.action is Action.TICK and tick.alert.normal_windows == 1
    assert tick.alert.evaluated_at == t1 and not tick.records_event
    active = {tick.alert.dedup_key: tick.alert}
    t2 = T0 + timedelta(minutes=10)
    [done] = lifecycle.regressions(active, [], [REF], texts={}, resolve_after_windows=2, now=t2)
    assert done.action is Action.RESOLVE and done.alert.status is AlertStatus.RESOLVED
    assert done.alert.resolved_at == t2


def test_a_slow_window_resets_the_normal_count() -> None:
    [opened] = lifecycle.regressions({}, [slow()], [], texts={}, resolve_after_windows=3, now=T0)
    active = {opened.alert.dedup_key: replace(opened.alert, id=1, normal_windows=2)}
    [again] = lifecycle.regressions(active, [slow()], [], texts={}, resolve_after_windows=3,
                                    now=T0 + timedelta(minutes=5))
    assert again.action is Action.TICK and again.alert.normal_windows == 0


def test_reopen_keeps_the_id_and_restarts_the_clock() -> None:
    [opened] = lifecycle.regressions({}, [slow()], [], texts={}, resolve_after_windows=3, now=T0)
    old = replace(opened.alert, id=7, status=AlertStatus.RESOLVED, resolved_at=T0,
                  escalated_at=T0, normal_windows=3)
    later = T0 + timedelta(minutes=20)
    [fresh] = lifecycle.regressions({}, [slow(3.0, Severity.WARNING)], [], texts={},
                                    resolve_after_windows=3, now=later)
    [t] = lifecycle.reopen([fresh], {old.dedup_key: old}, now=later)
    assert t.action is Action.REOPEN and t.records_event
    assert t.alert.id == 7 and t.alert.status is AlertStatus.OPEN
    assert t.alert.resolved_at is None and t.alert.escalated_at is None
    assert t.alert.opened_at == later and t.alert.normal_windows == 0
    assert t.alert.severity is Severity.WARNING and t.alert.ratio == 3.0
    assert "20m00s after it resolved" in t.message


def test_reopen_leaves_other_transitions_alone() -> None:
    [opened] = lifecycle.regressions({}, [slow()], [], texts={}, resolve_after_windows=3, now=T0)
    assert lifecycle.reopen([opened], {}, now=T0) == [opened]


def test_health_alerts_stamp_evaluation() -> None:
    f = HealthFinding("orders-db", "unreachable", Severity.CRITICAL, "down")
    [t] = lifecycle.health({}, [f], evaluated_targets=["orders-db"], resolve_after_windows=1,
                           now=T0)
    assert t.action is Action.OPEN and t.alert.evaluated_at == T0
    active = {t.alert.dedup_key: replace(t.alert, id=1)}
    [r] = lifecycle.health(active, [], evaluated_targets=["orders-db"], resolve_after_windows=1,
                           now=T0 + timedelta(minutes=1))
    assert r.action is Action.RESOLVE

"""Check-alert transitions as a pure function of active alerts, results and `now`."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from planwatch.alerting import check_alerts, lifecycle
from planwatch.alerting.lifecycle import Action, Policy
from planwatch.model.alerts import AlertStatus
from planwatch.model.checks import CheckResult, CheckStatus
from planwatch.model.findings import Severity

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OK, WARN, CRIT, ERR = (CheckStatus.OK, CheckStatus.WARNING, CheckStatus.CRITICAL,
                       CheckStatus.ERROR)


def _r(status: CheckStatus, at: datetime = NOW, labels: tuple[tuple[str, str], ...] = (),
       check: str = "c") -> CheckResult:
    return CheckResult(check, "db", status, f"{status.value}!", at, 1.0, 1.0, labels=labels)


def test_keys_follow_the_lifecycle_convention() -> None:
    assert check_alerts.key("c", "db") == "check:db::c"
    assert check_alerts.key("c", "db", (("region", "eu"), ("kind", "a"))) == (
        "check:db::c{region=eu,kind=a}")


def test_only_the_newest_run_counts() -> None:
    runs = check_alerts.latest_runs([_r(CRIT, NOW), _r(OK, NOW + timedelta(seconds=1))])
    assert [r.status for r in runs[("c", "db")]] == [OK]
    assert check_alerts.transitions({}, [_r(CRIT), _r(OK, NOW + timedelta(seconds=1))],
                                    now=NOW) == []


def test_open_update_tick_resolve() -> None:
    (opened,) = check_alerts.transitions({}, [_r(ERR)], now=NOW,
                                         runbooks={"c": "https://rb"})
    assert opened.action is Action.OPEN
    alert = dataclasses.replace(opened.alert, id=7)
    assert (alert.severity, alert.details["status"], alert.details["runbook_url"]) == (
        Severity.WARNING, "error", "https://rb")
    active = {alert.dedup_key: alert}
    assert check_alerts.transitions(active, [_r(ERR)], now=NOW + timedelta(seconds=5)) == []
    (tick,) = check_alerts.transitions(active, [_r(ERR)], now=NOW + timedelta(minutes=2))
    assert tick.action is Action.TICK
    (update,) = check_alerts.transitions(active, [_r(CRIT)], now=NOW)
    assert (update.action, update.message) == (
        Action.UPDATE, "severity warning -> critical (status error -> critical)")
    (resolve,) = check_alerts.transitions(active, [_r(OK)], now=NOW)
    assert (resolve.action, resolve.alert.status, resolve.message) == (
        Action.RESOLVE, AlertStatus.RESOLVED, "check ok again")


def test_reopen_instead_of_a_twin() -> None:
    (opened,) = check_alerts.transitions({}, [_r(CRIT)], now=NOW)
    resolved = dataclasses.replace(opened.alert, id=3, status=AlertStatus.RESOLVED,
                                   resolved_at=NOW)
    later = NOW + timedelta(minutes=3)
    fresh = check_alerts.transitions({}, [_r(WARN, later)], now=later)
    (again,) = lifecycle.reopen(fresh, {resolved.dedup_key: resolved}, now=later)
    assert (again.action, again.alert.id, again.alert.status, again.alert.resolved_at) == (
        Action.REOPEN, 3, AlertStatus.OPEN, None)
    assert again.was is AlertStatus.RESOLVED and "3m00s after it resolved" in again.message


def test_a_failure_must_last_for_before_it_opens() -> None:
    policy = {"c": Policy(for_=timedelta(minutes=1), resolve_after=2)}
    (pending,) = check_alerts.transitions({}, [_r(CRIT)], now=NOW, policies=policy)
    assert (pending.action, pending.alert.status) == (Action.PEND, AlertStatus.PENDING)
    assert pending.alert.pending_since == NOW and pending.alert.opened_at is None
    active = {pending.alert.dedup_key: dataclasses.replace(pending.alert, id=4)}
    # still failing 30 s later: saved at most once a minute, nothing to tell
    assert check_alerts.transitions(active, [_r(CRIT, NOW + timedelta(seconds=30))],
                                    now=NOW + timedelta(seconds=30), policies=policy) == []
    # 57 s: an evaluation up to 10% early counts (scheduling jitter)
    t = NOW + timedelta(seconds=57)
    (opened,) = check_alerts.transitions(active, [_r(CRIT, t)], now=t, policies=policy)
    assert (opened.action, opened.alert.status, opened.alert.opened_at) == (
        Action.OPEN, AlertStatus.OPEN, t)
    assert opened.alert.pending_since is None and "held for 0m57s" in opened.message


def test_a_pending_check_that_recovers_is_dropped() -> None:
    policy = {"c": Policy(for_=timedelta(minutes=1), resolve_after=2)}
    (pending,) = check_alerts.transitions({}, [_r(WARN)], now=NOW, policies=policy)
    active = {pending.alert.dedup_key: dataclasses.replace(pending.alert, id=4)}
    t = NOW + timedelta(seconds=20)
    (dropped,) = check_alerts.transitions(active, [_r(OK, t)], now=t, policies=policy)
    assert (dropped.action, dropped.alert.status) == (Action.DROP, AlertStatus.RESOLVED)
    assert dropped.records_event and "never notified" in dropped.message


def test_check_alerts_resolve_after_consecutive_ok_runs() -> None:
    policy = {"c": Policy(resolve_after=2)}
    (opened,) = check_alerts.transitions({}, [_r(CRIT)], now=NOW, policies=policy)
    alert = dataclasses.replace(opened.alert, id=4)
    (first,) = check_alerts.transitions({alert.dedup_key: alert}, [_r(OK)], now=NOW,
                                        policies=policy)
    assert (first.action, first.alert.normal_windows) == (Action.TICK, 1)
    # a failure in between starts the count again
    (again,) = check_alerts.transitions({alert.dedup_key: first.alert}, [_r(CRIT)],
                                        now=NOW + timedelta(minutes=2), policies=policy)
    assert again.alert.normal_windows == 0
    (one,) = check_alerts.transitions({alert.dedup_key: again.alert}, [_r(OK)], now=NOW,
                                      policies=policy)
    (two,) = check_alerts.transitions({alert.dedup_key: one.alert}, [_r(OK)], now=NOW,
                                      policies=policy)
    assert (two.action, two.alert.status, two.message) == (
        Action.RESOLVE, AlertStatus.RESOLVED, "check ok again for 2 consecutive evaluations")


def test_dataset_rows_resolve_unless_the_run_failed() -> None:
    eu, us = (("region", "eu"),), (("region", "us"),)
    opened = check_alerts.transitions({}, [_r(WARN, labels=eu), _r(WARN, labels=us)], now=NOW)
    active = {t.alert.dedup_key: dataclasses.replace(t.alert, id=i)
              for i, t in enumerate(opened)}
    assert len(active) == 2
    failed = check_alerts.transitions(active, [_r(ERR)], now=NOW)
    assert [t.action for t in failed] == [Action.OPEN]  # the rows stay as they were
    later = check_alerts.transitions(active, [_r(WARN, labels=eu)], now=NOW)
    assert [(t.action, t.alert.subject, t.message) for t in later] == [
        (Action.RESOLVE, "c{region=us}", "no longer returned by the check")]

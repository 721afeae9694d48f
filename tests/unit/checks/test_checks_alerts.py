"""Check-alert transitions as a pure function of active alerts, results and `now`."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from planwatch.alerting import check_alerts
from planwatch.alerting.lifecycle import Action
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
    (again,) = check_alerts.transitions({}, [_r(WARN)], now=NOW,
                                        recently_resolved={resolved.dedup_key: resolved})
    assert (again.action, again.alert.id, again.alert.status, again.alert.resolved_at) == (
        Action.UPDATE, 3, AlertStatus.OPEN, None)


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

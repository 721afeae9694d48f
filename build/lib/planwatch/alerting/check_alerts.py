"""Pure check-alert transitions: the latest run of each (check, target) -> alert changes.

Dedup key = kind `check` + target + subject, the subject being the check name plus the
dataset row's label values (`orders-backlog{region=eu}`), as in `lifecycle.dedup_key`.
A warning, critical or error evaluation opens the alert (or reopens the one resolved
within `repeat_interval`) and updates it while it lasts — a change of severity or status
is an event; the latest run of a (check, target) is its whole truth, so every active alert
of it that the run did not report as failing (ok again, or a dataset row no longer
returned) is resolved — unless the run failed as a whole, which says nothing about rows.
Errors alert at warning severity: the KPI is unknown, not bad.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from planwatch.alerting.lifecycle import Action, Transition, dedup_key
from planwatch.model.alerts import Alert, AlertKind, AlertStatus
from planwatch.model.checks import CheckResult, CheckStatus, Labels
from planwatch.model.findings import Severity

TOUCH_EVERY = timedelta(minutes=1)
"""An unchanged failing alert is saved (updated_at, value) at most this often."""


def subject(check: str, labels: Labels) -> str:
    if not labels:
        return check
    return check + "{" + ",".join(f"{k}={v}" for k, v in labels) + "}"


def key(check: str, target: str, labels: Labels = ()) -> str:
    return dedup_key(AlertKind.CHECK, target, None, subject(check, labels))


def latest_runs(results: Iterable[CheckResult]) -> dict[tuple[str, str], list[CheckResult]]:
    """The evaluations of the newest run per (check, target) among `results`."""
    runs: dict[tuple[str, str], list[CheckResult]] = {}
    for r in results:
        group = (r.check, r.target)
        current = runs.get(group)
        if current is None or r.executed_at > current[0].executed_at:
            runs[group] = [r]
        elif r.executed_at == current[0].executed_at:
            current.append(r)
    return runs


def transitions(
    active: Mapping[str, Alert],
    results: Iterable[CheckResult],
    *,
    now: datetime,
    recently_resolved: Mapping[str, Alert] | None = None,
    runbooks: Mapping[str, str | None] | None = None,
) -> list[Transition]:
    """Open/update/resolve check alerts for the newest run of each (check, target)."""
    reopenable = recently_resolved or {}
    out: list[Transition] = []
    for (check, target), run in latest_runs(results).items():
        failing: set[str] = set()
        for r in run:
            if r.status is CheckStatus.OK:
                continue
            k = key(check, target, r.labels)
            failing.add(k)
            runbook = (runbooks or {}).get(check)
            t = _failing(active.get(k), reopenable.get(k), k, r, runbook, now)
            if t is not None:
                out.append(t)
        if any(r.status is CheckStatus.ERROR and not r.labels for r in run):
            continue  # the run failed as a whole: its rows are unknown, not resolved
        for k, alert in active.items():
            if k not in failing and _belongs(alert, check, target):
                out.append(_resolve(alert, run, now))
    return out


def _failing(
    current: Alert | None,
    resolved: Alert | None,
    k: str,
    r: CheckResult,
    runbook: str | None,
    now: datetime,
) -> Transition | None:
    severity = Severity.CRITICAL if r.status is CheckStatus.CRITICAL else Severity.WARNING
    title = f"check {r.check} is {r.status.value} on {r.target}: {r.message}"[:500]
    details = {
        "check": r.check, "labels": r.labels_dict, "status": r.status.value,
        "value": r.value, "value_text": r.value_text, "message": r.message,
        "runbook_url": runbook,
    }
    if current is None and resolved is None:
        alert = Alert(
            id=None, dedup_key=k, kind=AlertKind.CHECK, status=AlertStatus.OPEN,
            severity=severity, target=r.target, database=None, subject=subject(r.check, r.labels),
            title=title, opened_at=now, updated_at=now, details=details,
        )
        return Transition(Action.OPEN, alert, title)
    if current is None:
        assert resolved is not None
        alert = dataclasses.replace(
            resolved, status=AlertStatus.OPEN, severity=severity, title=title, updated_at=now,
            resolved_at=None, normal_windows=0, details=details,
        )
        return Transition(Action.UPDATE, alert, f"reopened: {r.status.value}: {r.message}")
    before = current.details.get("status")
    alert = dataclasses.replace(current, severity=severity, title=title, updated_at=now,
                                normal_windows=0, details=details)
    if current.severity != severity or before != r.status.value:
        change = f"status {before} -> {r.status.value}"
        if current.severity != severity:
            change = f"severity {current.severity.value} -> {severity.value} ({change})"
        return Transition(Action.UPDATE, alert, change)
    if current.updated_at is None or now - current.updated_at >= TOUCH_EVERY:
        return Transition(Action.TICK, alert)
    return None


def _belongs(alert: Alert, check: str, target: str) -> bool:
    return (
        alert.kind is AlertKind.CHECK
        and alert.target == target
        and alert.details.get("check") == check
    )


def _resolve(alert: Alert, run: list[CheckResult], now: datetime) -> Transition:
    resolved = dataclasses.replace(
        alert, status=AlertStatus.RESOLVED, resolved_at=now, updated_at=now, normal_windows=1
    )
    labels = alert.details.get("labels") or {}
    seen = any(r.labels_dict == labels for r in run)
    why = "check ok again" if seen else "no longer returned by the check"
    return Transition(Action.RESOLVE, resolved, why)

"""Check alerts (pure): the latest run of each (check, target) -> what fires, what is normal.

Dedup key = kind `check` + target + subject, the subject being the check name plus the
dataset row's label values (`orders-backlog{region=eu}`), as in `lifecycle.dedup_key`.
A warning, critical or error evaluation fires (through `lifecycle.fire`: pending first, open
once it held for the check's `for`); a change of severity or status is an `updated` event.
The latest run of a (check, target) is its whole truth, so every active alert of it that the
run did not report as failing (ok again, or a dataset row no longer returned) is normal — it
resolves after `resolve_after` such runs — unless the run failed as a whole, which says
nothing about rows. Errors alert at warning severity: the KPI is unknown, not bad.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from planwatch.alerting import lifecycle
from planwatch.alerting.lifecycle import Action, Policy, Transition, dedup_key
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
    runbooks: Mapping[str, str | None] | None = None,
    policies: Mapping[str, Policy] | None = None,
) -> list[Transition]:
    """Fire or calm the check alerts of the newest run of each (check, target).

    `policies`: per check name (default: open at once, resolve on the first ok run).
    """
    out: list[Transition] = []
    for (check, target), run in latest_runs(results).items():
        policy = (policies or {}).get(check, Policy())
        failing: set[str] = set()
        for r in run:
            if r.status is CheckStatus.OK:
                continue
            k = key(check, target, r.labels)
            failing.add(k)
            t = _fire(active.get(k), k, r, (runbooks or {}).get(check), policy, now)
            if t is not None:
                out.append(t)
        if any(r.status is CheckStatus.ERROR and not r.labels for r in run):
            continue  # the run failed as a whole: its rows are unknown, not normal
        for k, alert in active.items():
            if k not in failing and _belongs(alert, check, target):
                out.append(lifecycle.calm(alert, resolve_after=policy.resolve_after, now=now,
                                          why=_why_normal(alert, run)))
    return out


def _fire(
    current: Alert | None, k: str, r: CheckResult, runbook: str | None, policy: Policy,
    now: datetime,
) -> Transition | None:
    severity = Severity.CRITICAL if r.status is CheckStatus.CRITICAL else Severity.WARNING
    title = f"check {r.check} is {r.status.value} on {r.target}: {r.message}"[:500]
    candidate = Alert(
        id=None, dedup_key=k, kind=AlertKind.CHECK, status=AlertStatus.PENDING,
        severity=severity, target=r.target, database=None, subject=subject(r.check, r.labels),
        title=title,
        details={
            "check": r.check, "labels": r.labels_dict, "status": r.status.value,
            "value": r.value, "value_text": r.value_text, "message": r.message,
            "runbook_url": runbook,
        },
    )
    change = _change(current, severity, r.status) if current is not None else None
    t = lifecycle.fire(current, candidate, for_=policy.for_, now=now,
                       message=f"{r.status.value}: {r.message}"[:500], change=change)
    if t.action is Action.TICK and current is not None and current.normal_windows == 0 and (
            current.updated_at is not None and now - current.updated_at < TOUCH_EVERY):
        return None  # nothing new to save yet
    return t


def _change(current: Alert, severity: Severity, status: CheckStatus) -> str:
    before = current.details.get("status")
    if current.severity == severity and before == status.value:
        return ""
    change = f"status {before} -> {status.value}"
    if current.severity != severity:
        change = f"{lifecycle.severity_change(current.severity, severity)} ({change})"
    return change


def _belongs(alert: Alert, check: str, target: str) -> bool:
    return (
        alert.kind is AlertKind.CHECK
        and alert.target == target
        and alert.details.get("check") == check
    )


def _why_normal(alert: Alert, run: list[CheckResult]) -> str:
    labels = alert.details.get("labels") or {}
    seen = any(r.labels_dict == labels for r in run)
    return "check ok again" if seen else "no longer returned by the check"

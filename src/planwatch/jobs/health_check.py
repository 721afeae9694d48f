"""Health-check job: storage, targets, job failure budgets and notification channels.

Its report feeds /health/ready (items the live checks do not cover, such as failing
channels) and it opens / resolves health alerts for what it owns: target unreachability,
jobs over their failure budget and failing channels (the last two on target "planwatch").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from planwatch.alerting import lifecycle
from planwatch.clock import utcnow
from planwatch.jobs.alerts import apply_transitions, finding_for
from planwatch.jobs.deps import JobDeps
from planwatch.model.alerts import Alert, AlertKind
from planwatch.model.findings import HealthFinding, Severity
from planwatch.model.jobs import ResultStatus
from planwatch.runtime import HealthItem, HealthReport
from planwatch.scheduling.runner import JobContext, JobOutcome
from planwatch.storage import alerts, notifications

SELF = "planwatch"  # the target name of planwatch's own health alerts
HEALTHY, DEGRADED, UNHEALTHY = 0, 1, 2
UNREACHABLE = "unreachable"


def storage_item(deps: JobDeps) -> HealthItem:
    try:
        deps.storage.ping()
        current = deps.storage.schema_current()
    except Exception as exc:
        return HealthItem("storage", UNHEALTHY, f"unreachable: {exc}")
    if not current:
        return HealthItem("storage", UNHEALTHY, "schema is not current: run planwatch migrate")
    return HealthItem("storage", HEALTHY, deps.storage.dialect)


def target_findings(deps: JobDeps) -> list[HealthFinding]:
    out = []
    for t in deps.settings.targets:
        ts = deps.state.targets.get(t.name)
        if t.enabled and ts is not None and ts.up is False:
            out.append(HealthFinding(t.name, UNREACHABLE, Severity.CRITICAL,
                                     f"target {t.name} is unreachable: {ts.last_error or 'down'}"))
    return out


def job_findings(deps: JobDeps) -> list[HealthFinding]:
    states = deps.state.job_states() if deps.state.job_states else []
    return [
        HealthFinding(SELF, f"job:{js.name}", Severity.WARNING,
                      f"job {js.name} failed {js.consecutive_failures} times in a row: "
                      f"{js.last_error or 'no error text'}")
        for js in states if js.unhealthy
    ]


def channel_findings(deps: JobDeps) -> list[HealthFinding]:
    configured = {c.name for c in deps.settings.alerting.channels}
    return [
        HealthFinding(SELF, f"channel:{b.channel}", Severity.WARNING,
                      f"notification channel {b.channel} is failing ({b.pending} pending): "
                      f"{b.last_error or ''}".rstrip(": "))
        for b in notifications.backlog(deps.storage)
        if b.channel in configured and b.failing > 0
    ]


def _owned(active: dict[str, Alert], targets: Sequence[str]) -> dict[str, Alert]:
    """The health alerts this job judges (analysis owns the collector-health ones)."""
    def mine(a: Alert) -> bool:
        if a.kind is not AlertKind.HEALTH:
            return False
        if a.target == SELF:
            return a.subject.startswith(("job:", "channel:"))
        return a.subject == UNREACHABLE and a.target in targets
    return {k: a for k, a in active.items() if mine(a)}


def _active_health(deps: JobDeps) -> dict[str, Alert]:
    found = alerts.list_alerts(deps.storage, status="open", kind=AlertKind.HEALTH.value,
                               limit=100_000)
    return {a.dedup_key: a for a in found}


def evaluate(
    deps: JobDeps, now: datetime, in_memory: Sequence[HealthFinding] | None = None
) -> HealthReport:
    """Blocking: build the report and apply the health-alert transitions.

    `in_memory`: the target and job findings, read on the event loop that owns that state
    (computed here when not given).
    """
    if in_memory is None:
        in_memory = [*target_findings(deps), *job_findings(deps)]
    store = storage_item(deps)
    if store.status != HEALTHY:
        return HealthReport(now, (store,))
    findings = [*in_memory, *channel_findings(deps)]
    targets = [t.name for t in deps.settings.targets if t.enabled]
    transitions = lifecycle.health(
        _owned(_active_health(deps), targets), findings,
        evaluated_targets=[*targets, SELF],
        resolve_after_windows=deps.settings.analysis.regression.resolve_after_windows, now=now,
        for_=finding_for(deps.settings),
    )
    apply_transitions(deps.storage, transitions, actor="health_check",
                      repeat_interval=deps.settings.alerting.repeat_interval)
    items = [store, *(_item(f) for f in findings)]
    return HealthReport(now, tuple(items))


def _item(f: HealthFinding) -> HealthItem:
    name = f.component if f.target == SELF else f"target:{f.target}"
    return HealthItem(name, DEGRADED, f.message)


async def check(deps: JobDeps, ctx: JobContext) -> JobOutcome:
    in_memory = [*target_findings(deps), *job_findings(deps)]
    report = await deps.blocking(evaluate, deps, utcnow(), in_memory)
    deps.state.health_report = report
    worst = max((i.status for i in report.items), default=HEALTHY)
    problems = [f"{i.name}: {i.message}" for i in report.items if i.status != HEALTHY]
    status = (ResultStatus.HEALTHY, ResultStatus.WARNING, ResultStatus.CRITICAL)[worst]
    return JobOutcome(status, "; ".join(problems) or "all healthy",
                      {"items": {i.name: i.status for i in report.items}})

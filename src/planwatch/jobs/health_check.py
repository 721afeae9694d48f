"""Health-check job: storage, targets, job failure budgets and notification channels.

Its report feeds /health/ready (items the live checks do not cover, such as failing
channels) and it opens / resolves health alerts for what it owns: target unreachability,
jobs over their failure budget and failing channels (the last two on target "planwatch").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from planwatch.alerting import lifecycle
from planwatch.alerting.routing import UNREACHABLE
from planwatch.clock import utcnow
from planwatch.jobs import gates
from planwatch.jobs.alerts import apply_transitions, finding_for
from planwatch.jobs.deps import JobDeps
from planwatch.model.alerts import Alert, AlertKind
from planwatch.model.findings import HealthFinding, Severity
from planwatch.model.jobs import ResultStatus
from planwatch.runtime import HealthItem, HealthReport
from planwatch.scheduling.runner import JobContext, JobOutcome, JobState
from planwatch.storage import alerts, notifications, targets

SELF = "planwatch"  # the target name of planwatch's own health alerts
HEALTHY, DEGRADED, UNHEALTHY = 0, 1, 2


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
    """Unreachable targets, from the state in storage: every worker judges the same facts,
    whichever one collected (or failed to collect) the target last."""
    enabled = {t.name for t in deps.settings.targets if t.enabled}
    return [
        HealthFinding(r.name, UNREACHABLE, Severity.CRITICAL,
                      f"target {r.name} is unreachable: {r.last_error or 'down'}")
        for r in targets.list_all(deps.storage) if r.name in enabled and r.up is False
    ]


def job_findings(deps: JobDeps) -> list[HealthFinding]:
    """This worker's jobs over their failure budget, each under the subject `job_subject`
    gives it (only jobs this worker runs now are judged at all)."""
    states = deps.state.job_states() if deps.state.job_states else []
    out = []
    for js in states:
        subject = job_subject(deps, js)
        if js.unhealthy and subject is not None:
            out.append(HealthFinding(SELF, subject, Severity.WARNING,
                                     f"job {js.name} failed {js.consecutive_failures} times in "
                                     f"a row: {js.last_error or 'no error text'}"))
    return out


def judged_jobs(deps: JobDeps) -> set[str]:
    """The job-alert subjects this worker judges (opens, updates and resolves)."""
    states = deps.state.job_states() if deps.state.job_states else []
    return {subject for js in states if (subject := job_subject(deps, js)) is not None}


def job_subject(deps: JobDeps, js: JobState) -> str | None:
    """`job:<name>` for a target's job (judged by the holder of its lease) and for a global
    job (by the holder of its lease); `job:<name>@<worker>` for a job every worker runs, so
    each worker's failures are its own alert. None: a job this worker does not run now."""
    fleet = deps.fleet
    singleton = js.kind in gates.SINGLETONS
    if fleet is not None and not fleet.runs(js.kind, js.target, singleton):
        return None
    if js.target is not None or singleton or fleet is None or not fleet.shared:
        return f"job:{js.name}"
    return f"job:{js.name}@{deps.worker_id[:8]}"


def channel_findings(deps: JobDeps) -> list[HealthFinding]:
    configured = {c.name for c in deps.settings.alerting.channels}
    return [
        HealthFinding(SELF, f"channel:{b.channel}", Severity.WARNING,
                      f"notification channel {b.channel} is failing ({b.pending} pending): "
                      f"{b.last_error or ''}".rstrip(": "))
        for b in notifications.backlog(deps.storage)
        if b.channel in configured and b.failing > 0
    ]


def _owned(
    active: dict[str, Alert], targets: Sequence[str], jobs: set[str]
) -> dict[str, Alert]:
    """The health alerts this job judges: unreachable targets, failing channels, and the
    job alerts of the jobs this worker runs (`judged_jobs`; analysis owns the collector-health
    ones, other workers their own jobs')."""
    def mine(a: Alert) -> bool:
        if a.kind is not AlertKind.HEALTH:
            return False
        if a.target == SELF:
            return a.subject.startswith("channel:") or a.subject in jobs
        return a.subject == UNREACHABLE and a.target in targets
    return {k: a for k, a in active.items() if mine(a)}


def _active_health(deps: JobDeps) -> dict[str, Alert]:
    found = alerts.list_alerts(deps.storage, status="open", kind=AlertKind.HEALTH.value,
                               limit=100_000)
    return {a.dedup_key: a for a in found}


def evaluate(
    deps: JobDeps, now: datetime, in_memory: Sequence[HealthFinding] | None = None,
    judged: set[str] | None = None,
) -> HealthReport:
    """Blocking: build the report and apply the health-alert transitions.

    `in_memory` and `judged`: the job findings and the job subjects this worker judges, read
    on the event loop that owns the scheduler's state (computed here when not given).
    """
    if in_memory is None:
        in_memory = job_findings(deps)
    if judged is None:
        judged = judged_jobs(deps)
    store = storage_item(deps)
    if store.status != HEALTHY:
        return HealthReport(now, (store,))
    findings = [*in_memory, *target_findings(deps), *channel_findings(deps)]
    targets = [t.name for t in deps.settings.targets if t.enabled]
    transitions = lifecycle.health(
        _owned(_active_health(deps), targets, judged), findings,
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
    report = await deps.blocking(evaluate, deps, utcnow(), job_findings(deps), judged_jobs(deps))
    deps.state.health_report = report
    worst = max((i.status for i in report.items), default=HEALTHY)
    problems = [f"{i.name}: {i.message}" for i in report.items if i.status != HEALTHY]
    status = (ResultStatus.HEALTHY, ResultStatus.WARNING, ResultStatus.CRITICAL)[worst]
    return JobOutcome(status, "; ".join(problems) or "all healthy",
                      {"items": {i.name: i.status for i in report.items}})

"""The health_check job: report, health alerts opened and resolved, readiness fed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace

import pytest
from alerting_support import T0, make_settings, regression_alert
from receivers import WebhookReceiver

from planwatch.clock import utcnow
from planwatch.config.settings import ChannelSettings, Secret, Settings
from planwatch.jobs import alert_processing, health_check
from planwatch.jobs.deps import JobDeps
from planwatch.model.alerts import AlertKind
from planwatch.scheduling.runner import JobState
from planwatch.storage import alerts, targets
from planwatch.storage.engine import Storage
from planwatch.web import health

pytestmark = pytest.mark.integration

Deps = Callable[[Settings], JobDeps]


def job_state(name: str, failures: int) -> JobState:
    return JobState(name=name, kind=name, target=None, next_run=None, running=False,
                    last_status=None, last_result=None, last_started=None,
                    last_duration_ms=None, last_error="boom" if failures else None,
                    consecutive_failures=failures, unhealthy=failures >= 5,
                    skipped_overlaps=0, runs=10, failures=failures)


def health_alerts(st: Storage) -> dict[str, str]:
    return {a.dedup_key: a.status.value
            for a in alerts.list_alerts(st, status="all", kind=AlertKind.HEALTH.value)}


async def test_health_check_opens_and_resolves_health_alerts(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
) -> None:
    webhook.status = 500
    deps = make_deps(make_settings(storage_url, [
        ChannelSettings("hook", Secret(f"webhook+{webhook.url}"), group_wait=timedelta(0))],
        for_=timedelta(0)))
    alerts.create(storage, regression_alert(), actor="analysis")
    await alert_processing.cycle(deps, T0)  # the hook fails: a failing channel
    targets.sync(storage, deps.settings.targets, T0)
    # Target state lives in storage: whichever worker collected it, every worker judges it.
    targets.set_status(storage, "lab-db", up=False, error="connection refused", at=T0)
    jobs = [job_state("analysis", 5), job_state("heartbeat", 0)]
    deps.state.job_states = lambda: jobs

    report = health_check.evaluate(deps, T0 + timedelta(minutes=1))
    items = {i.name: i.status for i in report.items}
    assert items == {"storage": 0, "target:lab-db": 1, "job:analysis": 1, "channel:hook": 1}
    assert health_alerts(storage) == {
        "health:lab-db::unreachable": "open",
        "health:planwatch::job:analysis": "open",
        "health:planwatch::channel:hook": "open",
    }
    deps.state.health_report = report.__class__(utcnow(), report.items)
    app = SimpleNamespace(state=deps.state)
    extra = health.health_job_checks(app, [health.Check("target:lab-db", health.Status.DEGRADED)])  # type: ignore[arg-type]
    assert sorted(c.name for c in extra) == ["channel:hook", "job:analysis"]

    # everything recovers: three healthy evaluations resolve the alerts
    webhook.status = 200
    await alert_processing.cycle(deps, T0 + timedelta(hours=1))
    targets.set_status(storage, "lab-db", up=True, error=None, at=T0 + timedelta(hours=1))
    jobs[0] = job_state("analysis", 0)
    for minute in (2, 3, 4):
        report = health_check.evaluate(deps, T0 + timedelta(hours=1, minutes=minute))
    assert {i.name for i in report.items} == {"storage"}
    assert set(health_alerts(storage).values()) == {"resolved"}

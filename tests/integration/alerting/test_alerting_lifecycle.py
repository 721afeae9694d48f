"""Escalation, flap protection, silences, inhibition and auto-resolution against storage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from alerting_support import T0, make_settings, regression_alert
from receivers import WebhookReceiver

from planwatch.alerting import actions, lifecycle
from planwatch.config.settings import (
    ChannelSettings,
    EscalationSettings,
    Secret,
    Settings,
    SilenceSettings,
)
from planwatch.jobs import alert_processing
from planwatch.jobs.alerts import apply_transitions
from planwatch.jobs.deps import JobDeps
from planwatch.model.alerts import AlertStatus, Silence
from planwatch.model.findings import Cause, Regression, Severity
from planwatch.model.samples import QueryRef
from planwatch.storage import alerts
from planwatch.storage import silences as silence_store
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

Deps = Callable[[Settings], JobDeps]
REF = QueryRef("orders-db", "shop", "101", "fp101")


def hooks(webhook: WebhookReceiver) -> list[ChannelSettings]:
    """Channels that send each event of each alert on its own, at once."""
    alone = {"group_by": ("...",), "group_wait": timedelta(0)}
    return [
        ChannelSettings("team", Secret(f"webhook+{webhook.url}?team"), **alone),
        ChannelSettings("oncall", Secret(f"webhook+{webhook.url}?oncall"),
                        min_severity="critical", kinds=("health",), **alone),
    ]


def by_channel(webhook: WebhookReceiver) -> list[tuple[str, str]]:
    return [(d["event"], d["alert"]["id"]) for d in webhook.received]


async def test_escalation_fires_once_after_the_configured_time(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
) -> None:
    settings = make_settings(storage_url, hooks(webhook), escalation=EscalationSettings(
        after=timedelta(minutes=10), channels=("oncall",)))
    deps = make_deps(settings)
    created = alerts.create(storage, regression_alert(), actor="analysis")
    acked = alerts.create(storage, regression_alert("202"), actor="analysis")
    actions.acknowledge(storage, acked.id or 0, actor="alice", comment="on it")

    counts, _ = await alert_processing.cycle(deps, T0 + timedelta(minutes=5))
    assert counts["escalated"] == 0
    counts, _ = await alert_processing.cycle(deps, T0 + timedelta(minutes=11))
    assert counts["escalated"] == 1
    for minutes in (12, 30, 90):
        counts, _ = await alert_processing.cycle(deps, T0 + timedelta(minutes=minutes))
        assert counts["escalated"] == 0

    escalations = [d for d in webhook.received if d["event"] == "escalated"]
    assert len(escalations) == 1 and escalations[0]["alert"]["id"] == created.id
    assert alerts.get(storage, created.id or 0).escalated_at == T0 + timedelta(minutes=11)
    trail = [e.event for e in alerts.events(storage, created.id or 0)]
    assert trail.count("escalated") == 1
    # the opened notification went to "team" only (oncall wants critical health alerts)
    assert sorted(by_channel(webhook)) == sorted(
        [("opened", created.id), ("opened", acked.id), ("escalated", created.id)])


def regression(ratio: float) -> Regression:
    return Regression(REF, Severity.CRITICAL, Cause.PLAN_CHANGE, 2.0, 2.0 * ratio, ratio, 0.001,
                      5000.0, 100, 1000, "h1", "h2")


def analyse(st: Storage, minute: int, slow: bool, repeat: timedelta) -> None:
    """One analysis window: the lifecycle and its persistence, as the analysis job does."""
    now = T0 + timedelta(minutes=minute)
    found, normal = ([regression(6.0)], []) if slow else ([], [REF])
    transitions = lifecycle.regressions(alerts.find_active(st), found, normal, texts={},
                                        resolve_after_windows=3, now=now)
    apply_transitions(st, transitions, actor="analysis", repeat_interval=repeat)


async def test_a_flapping_condition_produces_one_alert(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
) -> None:
    deps = make_deps(make_settings(storage_url, hooks(webhook)[:1]))
    pattern = [True, False, True, False, False, True, False, False, False, True, True]
    for i, slow in enumerate(pattern):
        analyse(storage, 5 * i, slow, timedelta(hours=4))
        await alert_processing.cycle(deps, T0 + timedelta(minutes=5 * i, seconds=1))

    every = alerts.list_alerts(storage, status="all")
    assert len(every) == 1
    trail = [e.event for e in alerts.events(storage, every[0].id or 0)]
    assert [e for e in trail if e in ("opened", "resolved", "reopened")] == [
        "opened", "resolved", "reopened"]
    assert every[0].status is AlertStatus.OPEN
    assert [d["event"] for d in webhook.received] == ["opened", "resolved", "reopened"]


async def test_past_repeat_interval_a_new_alert_opens(storage: Storage) -> None:
    for i, slow in enumerate([True, False, False, False]):
        analyse(storage, 5 * i, slow, timedelta(minutes=30))
    analyse(storage, 5 * 3 + 31, True, timedelta(minutes=30))
    assert len(alerts.list_alerts(storage, status="all")) == 2


async def test_a_silence_suppresses_delivery_but_the_alert_is_recorded(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
) -> None:
    configured = SilenceSettings(matchers={"target": "orders-*", "kind": "regression"},
                                 comment="index rebuild")
    deps = make_deps(make_settings(storage_url, hooks(webhook)[:1], silences=(configured,)))
    silenced = alerts.create(storage, regression_alert(), actor="analysis")
    other = alerts.create(storage, regression_alert("301", target="lab-db",
                                                    dedup_key="regression:lab-db:x:301"),
                          actor="analysis")
    counts, sent = await alert_processing.cycle(deps, T0)
    assert counts["suppressed"] == 1 and sent.sent == 1
    assert [d["alert"]["id"] for d in webhook.received] == [other.id]
    assert alerts.get(storage, silenced.id or 0).status is AlertStatus.OPEN
    trail = alerts.events(storage, silenced.id or 0)
    assert [e.event for e in trail] == ["opened", "notification_suppressed"]
    assert "index rebuild" in trail[1].message


async def test_a_stored_silence_expires(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
) -> None:
    deps = make_deps(make_settings(storage_url, hooks(webhook)[:1]))
    s = silence_store.add(storage, Silence(None, {"query_id": "1*"}, T0, T0 + timedelta(hours=1),
                                           "deploy", "cli:test"), now=T0)
    alerts.create(storage, regression_alert("101"), actor="analysis")
    await alert_processing.cycle(deps, T0 + timedelta(minutes=1))
    assert webhook.received == []
    silence_store.expire(storage, s.id or 0, now=T0 + timedelta(minutes=2))
    later = alerts.create(storage, regression_alert("102", opened_at=T0 + timedelta(minutes=3)),
                          actor="analysis")
    await alert_processing.cycle(deps, T0 + timedelta(minutes=3))
    assert [d["alert"]["id"] for d in webhook.received] == [later.id]


async def test_an_unreachable_target_inhibits_its_other_alerts(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
) -> None:
    from planwatch.model.alerts import AlertKind

    deps = make_deps(make_settings(storage_url, hooks(webhook)[:1]))
    down = alerts.create(storage, regression_alert(
        "unreachable", kind=AlertKind.HEALTH, subject="unreachable", query_id=None,
        database=None, dedup_key="health:orders-db::unreachable",
        title="target orders-db is unreachable",
        baseline_ms=None, current_ms=None, ratio=None, query_text=None), actor="analysis")
    alerts.create(storage, regression_alert("101"), actor="analysis")
    counts, _ = await alert_processing.cycle(deps, T0)
    assert counts["suppressed"] == 1
    assert [d["alert"]["id"] for d in webhook.received] == [down.id]


async def test_alerts_no_longer_evaluated_resolve_after_the_timeout(
    storage: Storage, storage_url: str, make_deps: Deps,
) -> None:
    deps = make_deps(make_settings(storage_url, [], auto_resolve_after=timedelta(minutes=120)))
    stale = alerts.create(storage, regression_alert("101"), actor="analysis")
    fresh = alerts.create(storage, regression_alert(
        "102", evaluated_at=T0 + timedelta(minutes=100)), actor="analysis")
    counts, _ = await alert_processing.cycle(deps, T0 + timedelta(minutes=119))
    assert counts["auto_resolved"] == 0
    counts, _ = await alert_processing.cycle(deps, T0 + timedelta(minutes=121))
    assert counts["auto_resolved"] == 1
    assert alerts.get(storage, stale.id or 0).status is AlertStatus.RESOLVED
    assert alerts.get(storage, fresh.id or 0).status is AlertStatus.OPEN
    last = alerts.events(storage, stale.id or 0)[-1]
    assert last.event == "resolved" and last.data == {"reason": "not_evaluated"}


async def test_one_cause_one_page_the_job_failing_on_an_unreachable_target_is_quiet(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
) -> None:
    from planwatch.model.findings import HealthFinding

    deps = make_deps(make_settings(storage_url, hooks(webhook)[:1]))
    findings = [
        HealthFinding("orders-db", "unreachable", Severity.CRITICAL, "orders-db is unreachable"),
        HealthFinding("planwatch", "job:collection:orders-db", Severity.WARNING,
                      "job collection:orders-db failed 8 times in a row: refused"),
        HealthFinding("planwatch", "job:collection:lab-db", Severity.WARNING,
                      "job collection:lab-db failed 8 times in a row: timeout"),
    ]
    transitions = lifecycle.health({}, findings, evaluated_targets=["orders-db", "planwatch"],
                                   resolve_after_windows=1, now=T0)
    apply_transitions(storage, transitions, actor="health_check")
    counts, _ = await alert_processing.cycle(deps, T0)
    assert counts["suppressed"] == 1
    assert sorted(d["alert"]["title"] for d in webhook.received) == [
        "job collection:lab-db failed 8 times in a row: timeout", "orders-db is unreachable"]
    job = alerts.find_active(storage)["health:planwatch::job:collection:orders-db"]
    assert alerts.events(storage, job.id or 0)[-1].message == (
        "inhibited: target orders-db is unreachable")


async def test_pending_alerts_are_stored_but_never_notified(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
) -> None:
    deps = make_deps(make_settings(storage_url, hooks(webhook)[:1]))
    window = timedelta(minutes=15)

    def judge(minute: int, slow: bool) -> None:
        now = T0 + timedelta(minutes=minute)
        found, normal = ([regression(6.0)], []) if slow else ([], [REF])
        ts = lifecycle.regressions(alerts.find_active(storage), found, normal, texts={},
                                   resolve_after_windows=3, now=now, for_=window)
        apply_transitions(storage, ts, actor="analysis", repeat_interval=timedelta(hours=4))

    judge(0, True)
    [pending] = alerts.list_alerts(storage, status="pending")
    judge(5, False)  # gone before it held for a window: dropped
    await alert_processing.cycle(deps, T0 + timedelta(minutes=6))
    assert webhook.received == []
    assert alerts.get(storage, pending.id or 0).status is AlertStatus.RESOLVED
    for minute in (10, 15, 20, 25):
        judge(minute, True)
        await alert_processing.cycle(deps, T0 + timedelta(minutes=minute, seconds=1))
    # the same alert was reused; it opened once the condition held for 15 minutes
    [alert] = alerts.list_alerts(storage, status="all")
    assert alert.id == pending.id and alert.status is AlertStatus.OPEN
    assert [e.event for e in alerts.events(storage, alert.id or 0)
            if e.event != "notified"] == ["pending", "dropped", "pending", "opened"]
    assert [d["event"] for d in webhook.received] == ["opened"]

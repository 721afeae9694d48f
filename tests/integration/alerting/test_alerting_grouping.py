"""Grouping per channel, against a real webhook receiver: a burst of regressions on one target
becomes one message, its updates go out at most once per group_interval, a resolved group says
so, and a group still firing is re-sent every repeat_interval."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from alerting_support import T0, make_settings, regression_alert
from receivers import WebhookReceiver

from planwatch.config.settings import ChannelSettings, Secret, Settings
from planwatch.jobs import alert_processing
from planwatch.jobs.deps import JobDeps
from planwatch.model.alerts import Alert, AlertStatus
from planwatch.storage import alerts
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

Deps = Callable[[Settings], JobDeps]


def at(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def resolve(st: Storage, a: Alert, seconds: float) -> None:
    when = T0 + at(seconds)
    alerts.update(st, replace(a, status=AlertStatus.RESOLVED, resolved_at=when, updated_at=when),
                  event="resolved", actor="analysis", message="normal for 3 windows")


async def test_a_burst_is_one_message_then_updates_are_paced_and_the_end_is_said(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
) -> None:
    channel = ChannelSettings("team", Secret(f"webhook+{webhook.url}"),
                              repeat_interval=timedelta(hours=1))  # group_wait 30s, interval 5m
    deps = make_deps(make_settings(storage_url, [channel],
                                   auto_resolve_after=timedelta(days=1)))
    burst = [alerts.create(storage, regression_alert(str(q)), actor="analysis")
             for q in range(50)]
    lab = alerts.create(storage, regression_alert("900", target="lab-db",
                                                  dedup_key="regression:lab-db:x:900"),
                        actor="analysis")

    counts, sent = await alert_processing.cycle(deps, T0 + at(10))  # within group_wait
    assert counts["enqueued"] == 51 and counts["messages"] == 0 and webhook.received == []
    counts, sent = await alert_processing.cycle(deps, T0 + at(31))
    assert counts["messages"] == 2 and sent.sent == 2
    by_target = {d["group"]["labels"]["target"]: d for d in webhook.received}
    page = by_target["orders-db"]
    assert page["type"] == "alert_group" and page["status"] == "firing"
    assert page["counts"] == {"opened": 50} and page["group"]["firing"] == 50
    assert len(page["events"]) == 50 and page["truncated"] == 0
    assert page["title"] == "[CRITICAL] 50 opened: regression on orders-db (50 firing)"
    assert {e["alert"]["id"] for e in page["events"]} == {a.id for a in burst}
    assert len({e["idempotency_key"] for e in page["events"]}) == 50
    assert page["idempotency_key"] == webhook.keys[webhook.received.index(page)]
    assert by_target["lab-db"]["type"] == "alert" and by_target["lab-db"]["alert"]["id"] == lab.id
    # every alert's audit trail has its notification
    assert [e.event for e in alerts.events(storage, burst[7].id or 0)] == ["opened", "notified"]

    # two changes a minute later wait for group_interval (5 m after the first message)
    resolve(storage, burst[0], 60)
    alerts.create(storage, regression_alert("51", opened_at=T0 + at(70)), actor="analysis")
    for seconds in (90, 200, 300):
        _, sent = await alert_processing.cycle(deps, T0 + at(seconds))
        assert sent.sent == 0
    _, sent = await alert_processing.cycle(deps, T0 + at(332))
    assert sent.sent == 1
    update = webhook.received[-1]
    assert update["counts"] == {"opened": 1, "resolved": 1} and update["group"]["firing"] == 50
    assert update["title"] == "[CRITICAL] 1 opened, 1 resolved: regression on orders-db " \
                              "(50 firing)"

    # an hour with no change: the group still firing is sent again, once
    _, sent = await alert_processing.cycle(deps, T0 + at(332 + 3600))
    assert sent.repeated == 2  # both groups are still firing
    reminder = webhook.received[-2:]
    assert {d["title"] for d in reminder} == {
        "[CRITICAL] still firing: regression on orders-db (50)",
        "[CRITICAL] still firing: regression on lab-db (1)"}
    _, sent = await alert_processing.cycle(deps, T0 + at(332 + 3700))
    assert sent.repeated == 0

    # everything resolves: one message says the group is over
    for a in alerts.list_alerts(storage, target="orders-db"):
        resolve(storage, a, 4000)
    _, sent = await alert_processing.cycle(deps, T0 + at(4300))
    assert sent.sent == 1
    end = webhook.received[-1]
    assert end["status"] == "resolved" and end["group"]["firing"] == 0
    assert end["title"] == "[RESOLVED] all resolved: regression on orders-db"
    assert end["counts"] == {"resolved": 50}

"""The Alertmanager channel against a real Alertmanager started here: alerts show up in its
API with planwatch's labels, Alertmanager groups them and notifies its own receiver, firing
alerts are re-posted, and resolving in planwatch resolves them there."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alerting_support import make_settings, regression_alert
from amserver import Alertmanager, start
from receivers import WebhookReceiver, free_port

from planwatch.clock import utcnow
from planwatch.config.settings import ChannelSettings, Secret, Settings
from planwatch.jobs import alert_processing
from planwatch.jobs.deps import JobDeps
from planwatch.model.alerts import Alert, AlertStatus
from planwatch.storage import alerts
from planwatch.storage.engine import Storage
from polling import wait_until

pytestmark = pytest.mark.integration
Deps = Callable[[Settings], JobDeps]


@pytest.fixture
def alertmanager(tmp_path: Path, webhook: WebhookReceiver) -> Iterator[Alertmanager]:
    am = start(tmp_path, webhook.url)
    try:
        yield am
    finally:
        am.stop()


def wait_for(what: str, found: Callable[[], Any], timeout: float = 30) -> Any:
    return wait_until(found, timeout, 0.2, what=what)


def fresh(qid: str, now: datetime, **kw: Any) -> Alert:
    """A regression alert opened (and last judged) at `now`."""
    return regression_alert(qid, opened_at=now, updated_at=now, evaluated_at=now, **kw)


def notified(webhook: WebhookReceiver, status: str, target: str) -> list[dict[str, Any]]:
    return [d for d in webhook.received
            if d.get("status") == status and d.get("groupLabels", {}).get("target") == target]


async def test_alerts_are_grouped_by_alertmanager_kept_alive_and_resolved(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
    alertmanager: Alertmanager,
) -> None:
    now = utcnow()
    channel = ChannelSettings("am", Secret(f"alertmanager+{alertmanager.url}"))
    deps = make_deps(make_settings(storage_url, [channel]))
    burst = [alerts.create(storage, fresh(q, now), actor="analysis") for q in ("101", "102", "103")]
    lab = alerts.create(storage, fresh("900", now, target="lab-db",
                                       dedup_key="regression:lab-db:shop:900"), actor="analysis")

    counts, sent = await alert_processing.cycle(deps, now)
    assert (counts["messages"], sent.sent) == (1, 1)  # one post carries all four
    shown = wait_for("4 alerts in Alertmanager", lambda: len(alertmanager.alerts()) == 4
                     and alertmanager.alerts())
    labels = {a["labels"]["query_id"]: a["labels"] for a in shown}
    assert labels["101"] | {"idempotency_key": "*"} == {
        "alertname": "planwatch_regression", "severity": "critical", "kind": "regression",
        "target": "orders-db", "database": "shop", "query_id": "101", "subject": "101",
        "idempotency_key": "*"}
    first = {a["labels"]["query_id"]: a for a in shown}["101"]
    assert first["annotations"]["summary"] == "query 101 is 6.0x slower"
    assert first["annotations"]["planwatch_alert_id"] == str(burst[0].id)
    assert first["generatorURL"].endswith(f"/alerts/{burst[0].id}")
    assert len({a["labels"]["idempotency_key"] for a in shown}) == 4
    # Alertmanager grouped them by target and kind and told its receiver, once per group
    groups = {g["labels"]["target"]: len(g["alerts"]) for g in alertmanager.groups()}
    assert groups == {"orders-db": 3, "lab-db": 1}
    [page] = wait_for("the orders-db page", lambda: notified(webhook, "firing", "orders-db"))
    assert len(page["alerts"]) == 3 and page["groupLabels"] == {
        "kind": "regression", "target": "orders-db"}

    # a minute later the firing alerts are posted again (before the resolve timeout)
    _, sent = await alert_processing.cycle(deps, now + timedelta(seconds=61))
    assert sent.repeated == 1 and sent.sent == 0

    # planwatch resolves the orders-db alerts: Alertmanager resolves them and says so
    # (endsAt is the resolution time: real, not the cycles' clock, or it would be future)
    done = utcnow()
    for a in burst:
        alerts.update(storage, replace(a, status=AlertStatus.RESOLVED, resolved_at=done,
                                       updated_at=done),
                      event="resolved", actor="analysis", message="normal")
    _, sent = await alert_processing.cycle(deps, now + timedelta(seconds=70))
    assert sent.sent == 1
    [over] = wait_for("the resolved notification",
                      lambda: notified(webhook, "resolved", "orders-db"))
    assert {a["labels"]["query_id"] for a in over["alerts"]} == {"101", "102", "103"}
    still = [a for a in alertmanager.alerts(active="true")
             if a["status"]["state"] == "active"]
    assert [a["labels"]["query_id"] for a in still] == ["900"]
    assert still[0]["annotations"]["planwatch_alert_id"] == str(lab.id)


async def test_an_unreachable_alertmanager_is_retried_with_backoff(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
) -> None:
    now = utcnow()
    dead = ChannelSettings("am", Secret(f"alertmanager+http://127.0.0.1:{free_port()}"))
    hook = ChannelSettings("hook", Secret(f"webhook+{webhook.url}"), group_wait=timedelta(0))
    deps = make_deps(make_settings(storage_url, [dead, hook]))
    created = alerts.create(storage, fresh("101", now), actor="analysis")
    _, sent = await alert_processing.cycle(deps, now)
    assert (sent.sent, sent.failed, sent.failing_channels) == (1, 1, ["am"])
    assert len(webhook.received) == 1  # the other channel is not held up
    [failure] = [e for e in alerts.events(storage, created.id or 0)
                 if e.event == "notification_failed"]
    assert "ConnectError" in failure.message and failure.data["retry_at"]
    _, sent = await alert_processing.cycle(deps, now + timedelta(seconds=5))
    assert sent.failed == 0  # backing off

"""Delivery through the outbox to a real webhook receiver and a real SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alerting_support import T0, make_settings, regression_alert
from receivers import SmtpReceiver, WebhookReceiver, body_text, free_port

from planwatch.alerting import delivery, grouping, messages
from planwatch.alerting.channels import WebhookChannel, create
from planwatch.config.settings import ChannelSettings, Secret, Settings
from planwatch.jobs import alert_processing
from planwatch.jobs.deps import JobDeps
from planwatch.storage import alerts, notifications
from planwatch.storage.engine import Storage
from planwatch.storage.tables import alert_events

pytestmark = pytest.mark.integration

Deps = Callable[[Settings], JobDeps]
NO_WAIT = timedelta(0)
ALONE = ("...",)  # group_by: every alert on its own


def hook(name: str, url: str, **kw: Any) -> ChannelSettings:
    """A channel that sends every event at once (no group_wait), unless told otherwise."""
    kw.setdefault("group_wait", NO_WAIT)
    return ChannelSettings(name, Secret(url), **kw)


def channels(webhook: WebhookReceiver, smtp: SmtpReceiver, **kw: Any) -> list[ChannelSettings]:
    return [
        hook("hook", f"webhook+{webhook.url}", **kw),
        hook("mail", smtp.url(), **kw),
        hook("lab-only", f"webhook+{webhook.url}?lab", tags=("lab",), **kw),
    ]


async def test_regression_alert_reaches_each_matching_channel_once_with_its_key(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
    smtp: SmtpReceiver,
) -> None:
    deps = make_deps(make_settings(storage_url, channels(webhook, smtp)))
    created = alerts.create(storage, regression_alert(), actor="analysis", message="detected")

    counts, sent = await alert_processing.cycle(deps, T0)
    assert (counts["enqueued"], counts["messages"], sent.sent, sent.failed) == (2, 2, 2, 0)
    # a second cycle finds nothing new to route and nothing due
    counts, sent = await alert_processing.cycle(deps, T0 + timedelta(minutes=1))
    assert counts["enqueued"] == 0 and sent.sent == 0

    [doc] = webhook.received
    assert doc["type"] == "alert" and doc["event"] == "opened" and doc["version"] == 1
    assert doc["alert"]["id"] == created.id and doc["alert"]["ratio"] == 6.0
    assert doc["url"].endswith(f"/alerts/{created.id}")
    assert "orders-db" in doc["title"] and "CRITICAL" in doc["title"]
    assert doc["group"] == {"key": "target=orders-db,kind=regression",
                            "labels": {"target": "orders-db", "kind": "regression"},
                            "firing": 1}
    [event_id] = _event_ids(storage, created.id or 0)
    assert webhook.keys == [doc["idempotency_key"]] == [
        messages.event_key("hook", event_id, doc)]

    [(rcpt, msg)] = smtp.messages
    assert rcpt == ["dba@example.com"] and "orders-db" in str(msg["Subject"])
    text = body_text(msg)
    assert "6.0x" in text and f"/alerts/{created.id}" in text

    trail = [(e.event, e.data.get("channel")) for e in alerts.events(storage, created.id or 0)]
    assert trail[0] == ("opened", None)
    assert sorted(trail[1:]) == [("notified", "hook"), ("notified", "mail")]


def _event_ids(st: Storage, alert_id: int) -> list[int]:
    with st.connect() as conn:
        return list(conn.scalars(sa.select(alert_events.c.id).where(
            alert_events.c.alert_id == alert_id, alert_events.c.event == "opened")))


async def test_down_webhook_is_retried_with_the_same_key_and_delivered_once(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
    smtp: SmtpReceiver,
) -> None:
    settings = make_settings(storage_url, channels(webhook, smtp)[:1])
    created = alerts.create(storage, regression_alert(), actor="analysis")
    webhook.status = 500

    deps = make_deps(settings)
    _, sent = await alert_processing.cycle(deps, T0)
    assert sent.failed == 1 and sent.sent == 0
    # not due yet: backoff, no new attempt
    _, sent = await alert_processing.cycle(deps, T0 + timedelta(seconds=10))
    assert sent.failed == 0 and sent.sent == 0
    webhook.stop()  # now refusing connections
    _, sent = await alert_processing.cycle(deps, T0 + timedelta(seconds=31))
    assert sent.failed == 1

    # "restart": a new storage engine and new deps, same database
    storage.close()
    again = Storage.open(storage_url)
    try:
        webhook.status = 200
        webhook.start()
        deps2 = replace(make_deps(settings), storage=again)
        _, sent = await alert_processing.cycle(deps2, T0 + timedelta(minutes=5))
        assert sent.sent == 1
        _, sent = await alert_processing.cycle(deps2, T0 + timedelta(hours=1))
        assert sent.sent == 0
        assert len(webhook.received) == 1 and len(set(webhook.keys)) == 1
        trail = [e.event for e in alerts.events(again, created.id or 0)]
        assert trail[:4] == ["opened", "notification_failed", "notification_failed", "notified"]
        assert notifications.backlog(again) == []
    finally:
        again.close()


async def test_a_channel_failing_forever_does_not_delay_smtp(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
    smtp: SmtpReceiver,
) -> None:
    webhook.status = 500
    deps = make_deps(make_settings(storage_url, channels(webhook, smtp, group_by=ALONE)[:2]))
    for q in ("101", "102", "103"):
        alerts.create(storage, regression_alert(q), actor="analysis")

    _, sent = await alert_processing.cycle(deps, T0)
    assert sent.sent == 3 and sent.failed == 1  # the hook failed once, its rest waits
    assert len(smtp.messages) == 3 and webhook.hits == 1
    assert sent.failing_channels == ["hook"]

    backlog = {b.channel: b for b in notifications.backlog(storage)}
    assert backlog["hook"].pending == 3 and backlog["hook"].failing == 1
    assert "HTTP 500" in (backlog["hook"].last_error or "")
    assert "mail" not in backlog


async def test_a_dead_smtp_server_is_a_recorded_failure_without_secrets(
    storage: Storage, storage_url: str, make_deps: Deps,
) -> None:
    url = (f"mailto://user:s3cret@127.0.0.1:{free_port()}?from=pw@example.com"
           "&to=dba@example.com&mode=insecure")
    deps = make_deps(make_settings(storage_url, [hook("mail", url)]))
    created = alerts.create(storage, regression_alert(), actor="analysis")
    _, sent = await alert_processing.cycle(deps, T0)
    assert sent.failed == 1 and sent.sent == 0
    failure = alerts.events(storage, created.id or 0)[-1]
    assert failure.event == "notification_failed" and failure.data["channel"] == "mail"
    assert "s3cret" not in failure.message and failure.data["retry_at"]


async def test_undeliverable_messages_are_given_up_after_a_day(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
) -> None:
    webhook.status = 500
    deps = make_deps(make_settings(
        storage_url, [hook("hook", f"webhook+{webhook.url}", repeat_interval=timedelta(days=9))],
        auto_resolve_after=timedelta(days=9)))
    created = alerts.create(storage, regression_alert(), actor="analysis")
    await alert_processing.cycle(deps, T0)
    _, sent = await alert_processing.cycle(deps, T0 + timedelta(hours=25))
    assert sent.given_up == 1
    [b] = notifications.backlog(storage)
    assert (b.pending, b.failed) == (0, 1)
    _, sent = await alert_processing.cycle(deps, T0 + timedelta(hours=26))
    assert sent.failed == 0 and webhook.hits == 2
    last = alerts.events(storage, created.id or 0)[-1]
    assert last.event == "notification_failed" and last.data["retry_at"] is None


async def test_two_processors_never_send_a_message_twice(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
) -> None:
    settings = make_settings(storage_url, [hook("hook", f"webhook+{webhook.url}",
                                                group_by=ALONE)])
    for q in range(60):
        alerts.create(storage, regression_alert(str(q)), actor="analysis")
    other = Storage.open(storage_url)
    try:
        a, b = make_deps(settings), replace(make_deps(settings), storage=other)
        (_, one), (_, two) = await asyncio.gather(alert_processing.cycle(a, T0),
                                                  alert_processing.cycle(b, T0))
    finally:
        other.close()
    assert one.sent + two.sent == 60
    ids = sorted(d["alert"]["id"] for d in webhook.received)
    assert len(ids) == 60 and len(set(ids)) == 60 and len(set(webhook.keys)) == 60


async def test_a_too_large_or_hanging_receiver_is_retried_and_blocks_no_one(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
    smtp: SmtpReceiver,
) -> None:
    small = WebhookReceiver(max_bytes=100)
    hanging = WebhookReceiver(hold=True)
    for r in (small, hanging):
        r.start()
    try:
        configured = [hook("small", f"webhook+{small.url}"),
                      hook("hanging", f"webhook+{hanging.url}"), hook("mail", smtp.url())]
        settings = make_settings(storage_url, configured)
        deps = make_deps(settings)
        created = alerts.create(storage, regression_alert(), actor="analysis")
        alert_processing.prepare(storage, settings, T0, running_since=T0 - timedelta(days=1))
        ctx = delivery.Context(storage, T0, deps.blocking, "w1", "http://pw")
        by_name = {c.name: (create(c), grouping.policy(c)) for c in configured}
        by_name["hanging"] = (WebhookChannel("hanging", hanging.url, timeout=0.5),
                              grouping.policy(configured[1]))
        sent = await delivery.deliver_due(ctx, by_name)
        assert (sent.sent, sent.failed) == (1, 2) and len(smtp.messages) == 1
        assert sorted(sent.failing_channels) == ["hanging", "small"]
        failures = {e.data["channel"]: (e.message, e.data["retry_at"])
                    for e in alerts.events(storage, created.id or 0)
                    if e.event == "notification_failed"}
        assert "HTTP 413" in failures["small"][0] and "Timeout" in failures["hanging"][0]
        assert all(retry for _, retry in failures.values())
        # both are retried later with the same key; the small receiver grows
        small.max_bytes = None
        hanging.hold = False
        later = delivery.Context(storage, T0 + timedelta(minutes=1), deps.blocking, "w1",
                                 "http://pw")
        sent = await delivery.deliver_due(later, by_name)
        assert sent.sent == 2 and sent.failed == 0
        assert len(set(small.keys)) == 1 and len(small.keys) == 2
        assert len(set(hanging.keys)) == 1 and len(hanging.keys) == 2
    finally:
        for r in (small, hanging):
            r.stop()

"""Delivery through the outbox to a real webhook receiver and a real SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from alerting_support import T0, make_settings, regression_alert
from receivers import SmtpReceiver, WebhookReceiver, body_text, free_port

from planwatch.config.settings import ChannelSettings, Secret, Settings
from planwatch.jobs import alert_processing
from planwatch.jobs.deps import JobDeps
from planwatch.storage import alerts, outbox
from planwatch.storage.engine import Storage

Deps = Callable[[Settings], JobDeps]


def channels(webhook: WebhookReceiver, smtp: SmtpReceiver) -> list[ChannelSettings]:
    return [
        ChannelSettings("hook", Secret(f"webhook+{webhook.url}")),
        ChannelSettings("mail", Secret(smtp.url())),
        ChannelSettings("lab-only", Secret(f"webhook+{webhook.url}?lab"), tags=("lab",)),
    ]


async def test_regression_alert_reaches_each_matching_channel_once(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
    smtp: SmtpReceiver,
) -> None:
    deps = make_deps(make_settings(storage_url, channels(webhook, smtp)))
    created = alerts.create(storage, regression_alert(), actor="analysis", message="detected")

    counts, sent = await alert_processing.cycle(deps, T0)
    assert counts["enqueued"] == 2 and sent.sent == 2 and sent.failed == 0
    # a second cycle finds nothing new to route and nothing due
    counts, sent = await alert_processing.cycle(deps, T0 + timedelta(minutes=1))
    assert counts["enqueued"] == 0 and sent.sent == 0

    assert len(webhook.received) == 1
    doc = webhook.received[0]
    assert doc["type"] == "alert" and doc["event"] == "opened" and doc["version"] == 1
    assert doc["alert"]["id"] == created.id and doc["alert"]["ratio"] == 6.0
    assert doc["url"].endswith(f"/alerts/{created.id}")
    assert "orders-db" in doc["title"] and "CRITICAL" in doc["title"]

    assert len(smtp.messages) == 1
    rcpt, msg = smtp.messages[0]
    assert rcpt == ["dba@example.com"]
    assert "orders-db" in str(msg["Subject"])
    text = body_text(msg)
    assert "6.0x" in text and f"/alerts/{created.id}" in text

    trail = [(e.event, e.data.get("channel")) for e in alerts.events(storage, created.id or 0)]
    assert trail[0] == ("opened", None)
    assert sorted(trail[1:]) == [("notified", "hook"), ("notified", "mail")]


async def test_down_webhook_is_retried_and_delivered_once_across_a_restart(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
    smtp: SmtpReceiver,
) -> None:
    settings = make_settings(storage_url, channels(webhook, smtp)[:1])
    created = alerts.create(storage, regression_alert(), actor="analysis")
    webhook.stop()

    deps = make_deps(settings)
    _, sent = await alert_processing.cycle(deps, T0)
    assert sent.failed == 1 and sent.sent == 0
    # not due yet: backoff, no new attempt
    _, sent = await alert_processing.cycle(deps, T0 + timedelta(seconds=10))
    assert sent.failed == 0 and sent.sent == 0
    _, sent = await alert_processing.cycle(deps, T0 + timedelta(seconds=31))
    assert sent.failed == 1

    # "restart": a new storage engine and new deps, same database
    storage.close()
    again = Storage.open(storage_url)
    try:
        webhook.start()
        deps2 = make_deps(settings)
        deps2.storage = again
        _, sent = await alert_processing.cycle(deps2, T0 + timedelta(minutes=5))
        assert sent.sent == 1
        _, sent = await alert_processing.cycle(deps2, T0 + timedelta(hours=1))
        assert sent.sent == 0
        assert len(webhook.received) == 1
        trail = [e.event for e in alerts.events(again, created.id or 0)]
        assert trail[:4] == ["opened", "notification_failed", "notification_failed", "notified"]
        assert trail.count("notified") == 1
        assert outbox.backlog(again) == []
    finally:
        again.close()


async def test_a_channel_failing_forever_does_not_delay_smtp(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
    smtp: SmtpReceiver,
) -> None:
    webhook.status = 500
    deps = make_deps(make_settings(storage_url, channels(webhook, smtp)[:2]))
    for q in ("101", "102", "103"):
        alerts.create(storage, regression_alert(q), actor="analysis")

    _, sent = await alert_processing.cycle(deps, T0)
    assert sent.sent == 3 and sent.failed == 1  # the hook failed once, its rest waits
    assert len(smtp.messages) == 3 and webhook.hits == 1
    assert sent.failing_channels == ["hook"]

    backlog = {b.channel: b for b in outbox.backlog(storage)}
    assert backlog["hook"].pending == 3 and backlog["hook"].failing == 1
    assert "HTTP 500" in (backlog["hook"].last_error or "")
    assert "mail" not in backlog


async def test_a_dead_smtp_server_is_a_recorded_failure_without_secrets(
    storage: Storage, storage_url: str, make_deps: Deps,
) -> None:
    url = (f"mailto://user:s3cret@127.0.0.1:{free_port()}?from=pw@example.com"
           "&to=dba@example.com&mode=insecure")
    deps = make_deps(make_settings(storage_url, [ChannelSettings("mail", Secret(url))]))
    created = alerts.create(storage, regression_alert(), actor="analysis")
    _, sent = await alert_processing.cycle(deps, T0)
    assert sent.failed == 1 and sent.sent == 0
    failure = alerts.events(storage, created.id or 0)[-1]
    assert failure.event == "notification_failed" and failure.data["channel"] == "mail"
    assert "s3cret" not in failure.message and failure.data["retry_at"]


async def test_undeliverable_rows_are_given_up_after_a_day(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
) -> None:
    webhook.status = 500
    hook = ChannelSettings("hook", Secret(f"webhook+{webhook.url}"))
    deps = make_deps(make_settings(storage_url, [hook], auto_resolve_after=timedelta(days=9)))
    created = alerts.create(storage, regression_alert(), actor="analysis")
    await alert_processing.cycle(deps, T0)
    _, sent = await alert_processing.cycle(deps, T0 + timedelta(hours=25))
    assert sent.given_up == 1
    [b] = outbox.backlog(storage)
    assert (b.pending, b.failed) == (0, 1)
    _, sent = await alert_processing.cycle(deps, T0 + timedelta(hours=26))
    assert sent.failed == 0 and webhook.hits == 2
    last = alerts.events(storage, created.id or 0)[-1]
    assert last.event == "notification_failed" and last.data["retry_at"] is None


async def test_two_processors_never_send_a_row_twice(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
) -> None:
    settings = make_settings(storage_url, [ChannelSettings("hook",
                                                           Secret(f"webhook+{webhook.url}"))])
    for q in range(60):
        alerts.create(storage, regression_alert(str(q)), actor="analysis")
    other = Storage.open(storage_url)
    try:
        a, b = make_deps(settings), make_deps(settings)
        b.storage = other
        (_, one), (_, two) = await asyncio.gather(alert_processing.cycle(a, T0),
                                                  alert_processing.cycle(b, T0))
    finally:
        other.close()
    assert one.sent + two.sent == 60
    ids = sorted(d["alert"]["id"] for d in webhook.received)
    assert len(ids) == 60 and len(set(ids)) == 60

"""Given-up notifications over the API and on the alerts page: listed, and re-sent (token or
session + CSRF), which makes them pending again with the same idempotency key."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import httpx
import pytest

from integration.web.conftest import TOKEN, Site
from planwatch.clock import utcnow
from planwatch.config.settings import ChannelSettings, Secret
from planwatch.jobs import alert_processing
from planwatch.storage import alerts, notifications

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def give_one_up(site: Site) -> int:
    """Route the seeded alerts' events to a channel; the first message is given up."""
    st, now = site.app.storage, utcnow()
    hook = ChannelSettings("hook", Secret("webhook+http://127.0.0.1:9/x"),
                           group_wait=timedelta(0))
    settings = dataclasses.replace(site.app.settings, alerting=dataclasses.replace(
        site.app.settings.alerting, channels=(hook,)))
    alert_processing.prepare(st, settings, now, running_since=now)
    first = notifications.claim(st, "hook", now=now, hold=timedelta(minutes=2), worker="t")[0]
    notifications.mark_failed(st, first, now=now, error="HTTP 500", retry_at=None)
    return first.id or 0


async def test_given_up_notifications_are_listed_and_resent_over_the_api(
    client: httpx.AsyncClient, site: Site
) -> None:
    nid = give_one_up(site)
    listed = (await client.get("/api/v1/notifications", params={"status": "failed"})).json()
    [row] = listed
    assert (row["id"], row["status"], row["channel"], row["last_error"]) == (
        nid, "failed", "hook", "HTTP 500")
    assert row["alert_ids"] and row["idempotency_key"]
    bad = await client.get("/api/v1/notifications", params={"status": "lost"})
    assert bad.status_code == 400

    assert (await client.post(f"/api/v1/notifications/{nid}/resend")).status_code == 401
    again = await client.post(f"/api/v1/notifications/{nid}/resend", headers=AUTH)
    assert again.status_code == 200
    body = again.json()
    assert (body["status"], body["attempts"], body["idempotency_key"]) == (
        "pending", 0, row["idempotency_key"])
    twice = await client.post(f"/api/v1/notifications/{nid}/resend", headers=AUTH)
    assert twice.status_code == 409 and "only a notification that was given up" in (
        twice.json()["error"])
    missing = await client.post("/api/v1/notifications/999999/resend", headers=AUTH)
    assert missing.status_code == 404
    trail = [e for a in row["alert_ids"] for e in alerts.events(site.app.storage, a)
             if e.event == "notification_resent"]
    assert trail and all(e.actor.startswith("web:") for e in trail)


async def test_the_alerts_page_offers_a_resend_button(
    client: httpx.AsyncClient, site: Site
) -> None:
    nid = give_one_up(site)
    anonymous = (await client.get("/alerts")).text
    assert "Notifications given up" in anonymous and f'id="notification-{nid}"' in anonymous
    assert f"/notifications/{nid}/resend" not in anonymous  # no button without a session
    await client.post("/login", data={"token": TOKEN, "next": "/alerts"})
    page = (await client.get("/alerts")).text
    assert f'action="/notifications/{nid}/resend"' in page
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    refused = await client.post(f"/notifications/{nid}/resend", data={"next": "/alerts"})
    assert refused.status_code == 403
    done = await client.post(f"/notifications/{nid}/resend",
                             data={"csrf": csrf, "next": "/alerts"})
    assert done.status_code == 303 and done.headers["location"] == "/alerts"
    assert notifications.get(site.app.storage, nid).status.value == "pending"
    assert "Notifications given up" not in (await client.get("/alerts")).text

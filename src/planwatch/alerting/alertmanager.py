"""The Alertmanager channel: planwatch alerts posted to `/api/v2/alerts` (API v2).

Alertmanager identifies an alert by its labels, so they stay the same for the whole life of
one planwatch alert episode (opening or reopening to resolution): alertname, severity, kind,
target, database, query_id, subject and `idempotency_key` — the key of the episode on this
channel. Posting the same alert again is therefore idempotent by construction; the key of the
event that caused a post is in the `event_key` annotation. (A severity change makes new
labels: the old ones, no longer re-posted, resolve in Alertmanager on its resolve_timeout.)
Firing alerts are posted without `endsAt` (Alertmanager then resolves them after its
`resolve_timeout` unless they are posted again: planwatch re-posts them every
`repeat_interval`, 1m by default); a resolved one with `endsAt`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from planwatch import views
from planwatch.alerting import messages
from planwatch.alerting.channels import TIMEOUT_S, DeliveryError, Message, post_json
from planwatch.alerting.grouping import ALERTMANAGER_PREFIX
from planwatch.model.alerts import Alert

API_PATH = "/api/v2/alerts"


class AlertmanagerChannel:
    """POSTs `payload["alerts"]` to Alertmanager; any 2xx answer is success."""

    def __init__(self, name: str, url: str, *, timeout: float = TIMEOUT_S) -> None:
        self.name = name
        self._url = url[len(ALERTMANAGER_PREFIX):].rstrip("/") + API_PATH
        self._timeout = timeout

    def send(self, message: Message) -> None:
        alerts = message.payload.get("alerts")
        if not isinstance(alerts, list):
            raise DeliveryError("not an Alertmanager message (a daily summary?): not sent")
        post_json(self._url, alerts, key=message.key, timeout=self._timeout)


def document(doc: Mapping[str, Any], *, channel: str, event_key: str | None = None) -> dict[
        str, Any]:
    """One Alertmanager alert from an alert document (`views.alert` plus `subject`, `url`)."""
    a = doc["alert"]
    episode = messages.key("alertmanager", channel, a["id"], a["opened_at"])
    labels = {
        "alertname": f"planwatch_{a['kind']}", "severity": a["severity"], "kind": a["kind"],
        "target": a["target"], "database": a.get("database"), "query_id": a.get("query_id"),
        "subject": doc.get("subject"), "idempotency_key": episode,
    }
    details = a.get("details") or {}
    verdict = details.get("verdict") or details.get("cause")
    annotations = {
        "summary": a["title"], "description": doc.get("text"), "plan_verdict": verdict,
        "planwatch_alert_id": a["id"], "event_key": event_key,
        "runbook_url": details.get("runbook_url"),
    }
    out: dict[str, Any] = {
        "labels": _strings(labels), "annotations": _strings(annotations),
        "startsAt": a.get("opened_at") or doc.get("event_at"), "generatorURL": doc["url"],
    }
    if a["status"] == "resolved":
        out["endsAt"] = a.get("resolved_at") or doc.get("event_at")
    return out


def batch(
    events: Sequence[tuple[int, Mapping[str, Any]]], *, channel: str, message_key: str
) -> tuple[str, str, dict[str, Any]]:
    """The message for `events`: each alert's newest state (firing, or resolved)."""
    newest: dict[int, dict[str, Any]] = {}
    for event_id, doc in events:
        newest[doc["alert"]["id"]] = document(
            doc, channel=channel, event_key=messages.event_key(channel, event_id, doc))
    alerts = list(newest.values())
    resolved = sum(1 for x in alerts if "endsAt" in x)
    title = f"{len(alerts) - resolved} firing, {resolved} resolved alert(s) to Alertmanager"
    text = "\n".join(f"- {x['labels']['alertname']} {x['labels']['target']}: "
                     f"{x['annotations'].get('summary', '')}"
                     + (" (resolved)" if "endsAt" in x else "") for x in alerts)
    return title, text, {"idempotency_key": message_key, "alerts": alerts}


def repost(alerts: Sequence[Alert], *, channel: str, base: str) -> list[dict[str, Any]]:
    """The firing alerts again, as they are now (keeps them alive in Alertmanager)."""
    return [document({"alert": views.alert(a), "subject": a.subject, "text": a.title,
                      "url": messages.alert_url(base, a.id)}, channel=channel)
            for a in alerts]


def _strings(values: Mapping[str, Any]) -> dict[str, str]:
    """Alertmanager wants string values; empty ones are left out (an empty label is none)."""
    return {k: str(v) for k, v in values.items() if v not in (None, "")}

"""What a notification says (pure): short, what / where / how bad, and a link to the alert.

One event's document (`payload`) is stored with each outbox row. A message carries one such
event (the same document, plus its idempotency key and group) or several (`group_message`:
one line per event). Apprise channels use `title` and `text`, the generic webhook posts the
whole document (see docs/alerting.md, "Webhook payload").
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from planwatch import views
from planwatch.config.settings import HttpSettings
from planwatch.model.alerts import Alert, AlertEvent

PAYLOAD_VERSION = 1
QUERY_CHARS = 200
LISTED = 50  # events listed in one grouped message; the rest are counted
KEYS = uuid.UUID("6f0c0a53-0d7e-4f0b-9a57-1d2cbb4b62a1")  # namespace of planwatch's keys


def base_url(http: HttpSettings) -> str:
    """Where the dashboard is reachable: `http.public_url`, else http://host:port."""
    if http.public_url:
        return http.public_url.rstrip("/")
    host = "localhost" if http.host in ("0.0.0.0", "::", "") else http.host
    return f"http://{host}:{http.port}"


def alert_url(base: str, alert_id: int | None) -> str:
    return f"{base}/alerts/{alert_id}"


def title(alert: Alert, event: str) -> str:
    where = alert.target + (f"/{alert.database}" if alert.database else "")
    return f"[{alert.severity.value.upper()}] {event}: {alert.kind.value} on {where}"


def how_bad(alert: Alert) -> str | None:
    if alert.baseline_ms is None or alert.current_ms is None:
        return None
    ratio = f" ({alert.ratio:.1f}x)" if alert.ratio is not None else ""
    return f"{alert.baseline_ms:.1f} ms -> {alert.current_ms:.1f} ms per call{ratio}"


def text(alert: Alert, event: AlertEvent, link: str) -> str:
    lines = [alert.title]
    where = f"target {alert.target}" + (f", database {alert.database}" if alert.database else "")
    lines.append(f"Where: {where}")
    if (bad := how_bad(alert)) is not None:
        lines.append(f"How bad: {bad}")
    if alert.plan_changed:
        lines.append("Cause: the execution plan changed")
    if alert.query_text:
        q = " ".join(alert.query_text.split())
        lines.append(f"Query: {q[:QUERY_CHARS]}{'...' if len(q) > QUERY_CHARS else ''}")
    if event.message:
        lines.append(f"{event.event.capitalize()}: {event.message}")
    lines.append(f"Alert {alert.id} ({alert.status.value}): {link}")
    return "\n".join(lines)


def payload(alert: Alert, event: AlertEvent, *, base: str) -> dict[str, Any]:
    """The outbox payload of one event (stored, so delivery needs no further reads)."""
    link = alert_url(base, alert.id)
    return {
        "version": PAYLOAD_VERSION,
        "type": "alert",
        "event": event.event,
        "event_at": _ts(event.at),
        "actor": event.actor,
        "title": title(alert, event.event),
        "text": text(alert, event, link),
        "url": link,
        "subject": alert.subject,
        "alert": views.alert(alert),
    }


def key(*parts: object) -> str:
    """A stable idempotency key: the same parts always give the same key."""
    return str(uuid.uuid5(KEYS, "|".join(str(p) for p in parts)))


def event_key(channel: str, event_id: int, doc: Mapping[str, Any]) -> str:
    """The key of one event for one channel (the event's time makes it unique across
    installations whose ids overlap)."""
    return key("event", channel, doc["alert"]["id"], event_id, doc["event_at"])


def group_message(
    events: Sequence[tuple[int, Mapping[str, Any]]],
    *,
    channel: str,
    group: Mapping[str, Any],
    message_key: str,
    base: str,
) -> tuple[str, str, dict[str, Any]]:
    """Title, text and document of a message carrying `events` ((event id, document), oldest
    first) of one group; `group`: its key, labels and the alerts firing after it."""
    if len(events) == 1:
        doc = dict(events[0][1])
        doc.update(idempotency_key=message_key, group=dict(group))
        return str(doc["title"]), str(doc["text"]), doc
    listed = [{"idempotency_key": event_key(channel, eid, d), "event": d["event"],
               "event_at": d["event_at"], "actor": d["actor"], "title": d["alert"]["title"],
               "url": d["url"], "alert": d["alert"]} for eid, d in events[:LISTED]]
    counts = Counter(str(d["event"]) for _, d in events)
    head = group_title(events, group, counts)
    doc = {
        "version": PAYLOAD_VERSION, "type": "alert_group", "idempotency_key": message_key,
        "status": "firing" if group["firing"] else "resolved", "title": head,
        "counts": dict(counts), "group": dict(group), "events": listed,
        "truncated": max(0, len(events) - LISTED), "url": group_url(base, group["labels"]),
    }
    doc["text"] = group_text(doc)
    return head, doc["text"], doc


def group_title(events: Sequence[tuple[int, Mapping[str, Any]]], group: Mapping[str, Any],
                counts: Counter[str]) -> str:
    what = describe(group["labels"])
    if not group["firing"]:
        return f"[RESOLVED] all resolved: {what}"
    worst = max((d["alert"]["severity"] for _, d in events if d["event"] != "resolved"),
                key=lambda s: s == "critical", default="warning")
    changes = ", ".join(f"{n} {e}" for e, n in sorted(counts.items()))
    return f"[{worst.upper()}] {changes}: {what} ({group['firing']} firing)"


def describe(labels: Mapping[str, str]) -> str:
    """`regression on orders-db` for the default group labels, else `k=v, ...`."""
    if {"kind", "target"} <= set(labels):
        rest = [f"{k}={v}" for k, v in labels.items() if k not in ("kind", "target") and v]
        return f"{labels['kind']} on {labels['target']}" + (f" ({', '.join(rest)})"
                                                            if rest else "")
    return ", ".join(f"{k}={v}" for k, v in labels.items()) or "all alerts"


def group_text(doc: Mapping[str, Any]) -> str:
    lines = [doc["title"]]
    for e in doc["events"]:
        lines.append(f"- {e['event']} [{e['alert']['severity']}] {e['title']}: {e['url']}")
    if doc["truncated"]:
        lines.append(f"... and {doc['truncated']} more: {doc['url']}")
    if doc["status"] == "resolved":
        lines.append("Every alert of this group is resolved.")
    return "\n".join(lines)


def group_url(base: str, labels: Mapping[str, str]) -> str:
    query = {k: v for k, v in labels.items() if k in ("kind", "target", "severity") and v}
    return f"{base}/alerts?{urlencode({'status': 'all', **query})}"


def reminder(alerts: Sequence[Alert], *, group: Mapping[str, Any], message_key: str,
             base: str) -> tuple[str, str, dict[str, Any]]:
    """A group's firing alerts again, `repeat_interval` after its last message."""
    listed: list[dict[str, Any]] = [
        {"event": "firing", "title": a.title, "url": alert_url(base, a.id),
         "alert": views.alert(a)} for a in alerts[:LISTED]]
    worst = "critical" if any(a.severity.value == "critical" for a in alerts) else "warning"
    head = f"[{worst.upper()}] still firing: {describe(group['labels'])} ({len(alerts)})"
    lines = [head, *(f"- [{e['alert']['severity']}] {e['title']}: {e['url']}" for e in listed)]
    doc: dict[str, Any] = {
        "version": PAYLOAD_VERSION, "type": "alert_group", "idempotency_key": message_key,
        "status": "firing", "repeat": True, "title": head, "counts": {"firing": len(alerts)},
        "group": dict(group), "events": listed, "truncated": max(0, len(alerts) - LISTED),
        "url": group_url(base, group["labels"])}
    if doc["truncated"]:
        lines.append(f"... and {doc['truncated']} more: {doc['url']}")
    doc["text"] = "\n".join(lines)
    return head, doc["text"], doc


def _ts(at: datetime) -> str:
    return at.isoformat()

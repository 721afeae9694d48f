"""What a notification says (pure): short, what / where / how bad, and a link to the alert.

The same payload goes to every channel: apprise channels use `title` and `text`, the generic
webhook posts the whole document (see docs/alerting.md, "Webhook payload").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from planwatch import views
from planwatch.config.settings import HttpSettings
from planwatch.model.alerts import Alert, AlertEvent

PAYLOAD_VERSION = 1
QUERY_CHARS = 200


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
        "alert": views.alert(alert),
    }


def _ts(at: datetime) -> str:
    return at.isoformat()

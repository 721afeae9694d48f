"""Notifications as people see them (CLI, API, dashboard): listing, JSON shape, resending.

A message given up (`failed`: its channel refused it for `GIVE_UP_AFTER`) stays in storage;
`resend` makes it pending again — the same payload with the same idempotency key, so a
receiver that did get it after all can tell — and the worker's alert processing sends it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from planwatch.alerting.outbox import GIVE_UP_AFTER
from planwatch.model.alerts import Notification
from planwatch.storage import notifications as store
from planwatch.storage.engine import Storage

STATUSES = ("pending", "sent", "failed")


def resend(st: Storage, notification_id: int, *, actor: str, now: datetime) -> Notification:
    """Make a given-up message pending again, due now; raises NotResendable otherwise."""
    return store.resend(st, notification_id, now=now, ttl=GIVE_UP_AFTER, actor=actor)


def as_json(n: Notification, alert_ids: Sequence[int] = ()) -> dict[str, Any]:
    """The stable JSON shape (docs/alerting.md); the payload is what the channel receives."""
    return {
        "id": n.id, "channel": n.channel, "kind": n.kind, "status": n.status.value,
        "idempotency_key": n.key, "group": n.group_key, "title": n.title, "items": n.items,
        "attempts": n.attempts, "last_error": n.last_error, "created_at": _ts(n.created_at),
        "expires_at": _ts(n.expires_at), "sent_at": _ts(n.sent_at), "alert_ids": list(alert_ids),
    }


def listing(st: Storage, *, status: str | None, channel: str | None = None,
            limit: int = 100) -> list[dict[str, Any]]:
    return [as_json(n, store.alert_ids(st, n.id or 0))
            for n in store.listing(st, status=status, channel=channel, limit=limit)]


def _ts(at: datetime | None) -> str | None:
    return at.isoformat() if at else None

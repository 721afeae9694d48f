"""Notifications as people see them (CLI, API, dashboard): listing (as `views.notification`)
and resending.

A message given up (`failed`: its channel refused it for `GIVE_UP_AFTER`) stays in storage;
`resend` makes it pending again — the same payload with the same idempotency key, so a
receiver that did get it after all can tell — and the worker's alert processing sends it.
"""

from __future__ import annotations

from datetime import datetime

from planwatch import views
from planwatch.alerting.outbox import GIVE_UP_AFTER
from planwatch.model.alerts import Notification
from planwatch.storage import notifications as store
from planwatch.storage.engine import Storage


def resend(st: Storage, notification_id: int, *, actor: str, now: datetime) -> Notification:
    """Make a given-up message pending again, due now; raises NotResendable otherwise."""
    return store.resend(st, notification_id, now=now, ttl=GIVE_UP_AFTER, actor=actor)


def listing(st: Storage, *, status: str | None, channel: str | None = None,
            limit: int = 100) -> list[views.Notification]:
    return [views.notification(n, store.alert_ids(st, n.id or 0))
            for n in store.listing(st, status=status, channel=channel, limit=limit)]


"""What the dashboard and the API let a person do to an alert: ack, resolve, silence.

Acknowledge and resolve are `alerting.actions`. Silencing stores a silence whose only
matcher is the alert's dedup key: silences suppress notifications, never detection, so the
alert keeps its status while the notifier (alerting/silences.py) skips it, and a reopened
alert of the same condition stays silenced too. The alert's audit trail records who silenced
it and until when.
"""

from __future__ import annotations

import glob
from datetime import datetime, timedelta

from planwatch.alerting import actions
from planwatch.alerting.actions import InvalidTransition
from planwatch.model.alerts import Alert, AlertEvent, AlertStatus, Silence
from planwatch.storage import alerts, silences
from planwatch.storage.engine import Storage

MAX_SILENCE = timedelta(days=30)
MAX_SILENCE_MINUTES = int(MAX_SILENCE.total_seconds() // 60)
MAX_COMMENT = 2000  # characters of an action's comment
ACTIONS = ("ack", "resolve", "silence")


def perform(
    st: Storage, alert_id: int, action: str, *, actor: str, now: datetime, comment: str = "",
    minutes: int = 60,
) -> Alert:
    """Apply one action; raises InvalidTransition when the alert's status does not allow it."""
    if action == "ack":
        return actions.acknowledge(st, alert_id, actor=actor, comment=comment)
    if action == "resolve":
        return actions.resolve(st, alert_id, actor=actor, comment=comment)
    if action == "silence":
        return silence(st, alert_id, duration=timedelta(minutes=minutes), actor=actor,
                       now=now, comment=comment)[0]
    raise ValueError(f"unknown alert action {action!r}; use one of {', '.join(ACTIONS)}")


def silence(
    st: Storage, alert_id: int, *, duration: timedelta, actor: str, now: datetime,
    comment: str = "",
) -> tuple[Alert, Silence]:
    if not timedelta(0) < duration <= MAX_SILENCE:
        raise ValueError(f"a silence lasts between 1 minute and {MAX_SILENCE.days} days")
    current = alerts.get(st, alert_id)
    if current.status is AlertStatus.RESOLVED:
        raise InvalidTransition(f"alert {alert_id} is resolved; nothing to silence")
    matcher = {"dedup_key": glob.escape(current.dedup_key)}  # matched as a glob: escape it
    stored = silences.add(
        st, Silence(None, matcher, now, now + duration, comment or f"alert {alert_id}", actor),
        now=now,
    )
    alerts.add_event(st, AlertEvent(
        alert_id, now, "silenced", actor, comment,
        {"silence_id": stored.id, "until": (now + duration).isoformat()},
    ))
    return current, stored

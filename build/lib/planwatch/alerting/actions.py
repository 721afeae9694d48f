"""Human actions on alerts (CLI and API): acknowledge and resolve, each recorded as an event."""

from __future__ import annotations

import dataclasses

from planwatch.clock import utcnow
from planwatch.errors import PlanwatchError
from planwatch.model.alerts import Alert, AlertStatus
from planwatch.storage import alerts
from planwatch.storage.engine import Storage


class InvalidTransition(PlanwatchError):
    """The alert cannot make this transition from its current status."""


def acknowledge(st: Storage, alert_id: int, *, actor: str, comment: str = "") -> Alert:
    current = alerts.get(st, alert_id)
    if current.status not in (AlertStatus.OPEN, AlertStatus.PENDING):
        raise InvalidTransition(f"alert {alert_id} is {current.status.value}, not open")
    updated = dataclasses.replace(current, status=AlertStatus.ACKNOWLEDGED, updated_at=utcnow())
    alerts.update(st, updated, event="acknowledged", actor=actor, message=comment)
    return updated


def resolve(st: Storage, alert_id: int, *, actor: str, comment: str = "") -> Alert:
    current = alerts.get(st, alert_id)
    if current.status is AlertStatus.RESOLVED:
        raise InvalidTransition(f"alert {alert_id} is already resolved")
    now = utcnow()
    updated = dataclasses.replace(current, status=AlertStatus.RESOLVED, resolved_at=now,
                                  updated_at=now)
    alerts.update(st, updated, event="resolved", actor=actor, message=comment)
    return updated

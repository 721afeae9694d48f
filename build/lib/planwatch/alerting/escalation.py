"""Escalation: an alert open and unacknowledged past `escalation.after` is escalated once.

The "escalated" event is routed to the escalation channels only. A silenced alert is not
escalated while its silence lasts; it escalates when the silence ends, if still unacknowledged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from planwatch.alerting import silences as silence_rules
from planwatch.config.settings import EscalationSettings
from planwatch.model.alerts import Alert, Silence
from planwatch.storage import alerts
from planwatch.storage.engine import Storage

ACTOR = "alert_processing"


def due(
    candidates: Sequence[Alert],
    silences: Sequence[Silence],
    tags: Mapping[str, tuple[str, ...]],
    now: datetime,
) -> list[Alert]:
    """Pure: the candidates to escalate now, stamped; silenced ones wait."""
    return [
        dataclasses.replace(a, escalated_at=now, updated_at=now)
        for a in candidates
        if silence_rules.silencing(a, silences, now, tags.get(a.target, ())) is None
    ]


def escalate(
    st: Storage,
    settings: EscalationSettings,
    silences: Sequence[Silence],
    tags: Mapping[str, tuple[str, ...]],
    now: datetime,
) -> list[Alert]:
    """Escalate every alert that is due; returns them (their events go through the outbox)."""
    candidates = alerts.escalation_due(st, now - settings.after)
    chosen = due(candidates, silences, tags, now)
    alerts.set_many(
        st, [a.id for a in chosen if a.id is not None], {"escalated_at": now, "updated_at": now},
        at=now, event="escalated", actor=ACTOR,
        message=f"open and unacknowledged for more than {_human(settings.after)}",
    )
    return chosen


def _human(d: timedelta) -> str:
    minutes = int(d.total_seconds() // 60)
    return f"{minutes}m" if minutes else f"{int(d.total_seconds())}s"

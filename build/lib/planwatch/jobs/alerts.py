"""Persist lifecycle transitions through the storage layer (events are the audit trail)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from planwatch.alerting import lifecycle
from planwatch.alerting.lifecycle import Action, Transition
from planwatch.clock import utcnow
from planwatch.storage import alerts
from planwatch.storage.engine import Storage


def apply_transitions(
    st: Storage,
    transitions: Sequence[Transition],
    *,
    actor: str,
    repeat_interval: timedelta | None = None,
) -> None:
    """Save transitions; with `repeat_interval`, recently resolved alerts are reopened."""
    if repeat_interval is not None:
        transitions = _reopen_recent(st, transitions, repeat_interval)
    for t in transitions:
        if t.action is Action.OPEN:
            alerts.create(st, t.alert, actor=actor, message=t.message)
        elif t.records_event:
            alerts.update(st, t.alert, event=t.action.value, actor=actor, message=t.message)
        else:
            alerts.update(st, t.alert)


def _reopen_recent(
    st: Storage, transitions: Sequence[Transition], repeat_interval: timedelta
) -> list[Transition]:
    opening = [t.alert for t in transitions if t.action is Action.OPEN]
    if not opening:
        return list(transitions)
    now = max(a.opened_at or utcnow() for a in opening)
    keys = [a.dedup_key for a in opening]
    recent = alerts.recently_resolved(st, keys, now - repeat_interval)
    return lifecycle.reopen(transitions, recent, now=now)

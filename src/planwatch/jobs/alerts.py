"""Persist lifecycle transitions through the storage layer (events are the audit trail)."""

from __future__ import annotations

from collections.abc import Sequence

from planwatch.alerting.lifecycle import Action, Transition
from planwatch.storage import alerts
from planwatch.storage.engine import Storage


def apply_transitions(st: Storage, transitions: Sequence[Transition], *, actor: str) -> None:
    for t in transitions:
        if t.action is Action.OPEN:
            alerts.create(st, t.alert, actor=actor, message=t.message)
        elif t.records_event:
            alerts.update(st, t.alert, event=t.action.value, actor=actor, message=t.message)
        else:
            alerts.update(st, t.alert)

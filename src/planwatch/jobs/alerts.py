"""The one way alerts are written: lifecycle transitions persisted through the storage layer.

Analysis (regressions, hotspots, collector health), the health check and the check runner all
save their transitions here, so they share the reopen rule (`repeat_interval`), the conflict
handling and the audit trail (every transition but a tick is an event). A transition whose
alert changed since it was read — a human acknowledged it, another worker opened or resolved
it — is skipped: the next evaluation starts from the stored state.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog
from croniter import croniter

from planwatch.alerting import lifecycle
from planwatch.alerting.lifecycle import Policy, Transition
from planwatch.clock import utcnow
from planwatch.config.settings import CheckSettings, Settings
from planwatch.errors import StorageConflict
from planwatch.storage import alerts
from planwatch.storage.engine import Storage

log = structlog.stdlib.get_logger(__name__)


def apply_transitions(
    st: Storage,
    transitions: Sequence[Transition],
    *,
    actor: str,
    repeat_interval: timedelta | None = None,
) -> list[Transition]:
    """Save transitions (with `repeat_interval`, recently resolved alerts are reused); returns
    those saved."""
    if repeat_interval is not None:
        transitions = _reopen_recent(st, transitions, repeat_interval)
    saved = []
    for t in transitions:
        try:
            if t.alert.id is None:
                alerts.create(st, t.alert, actor=actor, message=t.message, event=t.action.value)
            else:
                event = t.action.value if t.records_event else None
                alerts.update(st, t.alert, event=event, actor=actor, message=t.message,
                              expect=t.was)
        except StorageConflict as exc:
            log.info("alert.conflict", dedup=t.alert.dedup_key, action=t.action.value,
                     error=str(exc))
            continue
        saved.append(t)
        if t.records_event:
            log.info("alert." + t.action.value, dedup=t.alert.dedup_key, actor=actor)
    return saved


def _reopen_recent(
    st: Storage, transitions: Sequence[Transition], repeat_interval: timedelta
) -> list[Transition]:
    new = [t.alert for t in transitions if t.alert.id is None]
    if not new:
        return list(transitions)
    now = max(a.updated_at or utcnow() for a in new)
    recent = alerts.recently_resolved(st, [a.dedup_key for a in new], now - repeat_interval)
    return lifecycle.reopen(transitions, recent, now=now)


def finding_for(settings: Settings) -> timedelta:
    """How long a regression, hotspot or health condition must hold before its alert opens."""
    configured = settings.alerting.for_
    return configured if configured is not None else settings.analysis.regression.window


def check_policy(settings: Settings, check: CheckSettings, now: datetime) -> Policy:
    """A check's `for` (default: the time between two of its runs) and `resolve_after`."""
    for_ = check.for_ if check.for_ is not None else settings.alerting.for_
    if for_ is None:
        for_ = check.interval or _cron_gap(check.cron or "* * * * *", now)
    resolve_after = check.resolve_after or settings.alerting.resolve_after
    return Policy(for_=for_, resolve_after=resolve_after)


def _cron_gap(expression: str, now: datetime) -> timedelta:
    runs = croniter(expression, now)
    first: datetime = runs.get_next(datetime)
    second: datetime = runs.get_next(datetime)
    return second - first

"""Auto-resolution of alerts whose condition is no longer evaluated at all.

A target removed from the config or a disabled check leaves its alert open forever otherwise.
Only a worker that has itself been running for `auto_resolve_after` may time alerts out, so a
worker restarting after an outage does not resolve everything before its first analysis.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta

from planwatch.model.alerts import Alert, AlertStatus
from planwatch.storage import alerts
from planwatch.storage.engine import Storage

ACTOR = "alert_processing"


def expire(candidates: Sequence[Alert], now: datetime) -> list[Alert]:
    """Pure: the candidates, resolved at `now`."""
    return [
        dataclasses.replace(a, status=AlertStatus.RESOLVED, resolved_at=now, updated_at=now)
        for a in candidates
    ]


def resolve_stale(
    st: Storage, after: timedelta, now: datetime, *, running_since: datetime
) -> list[Alert]:
    if now - running_since < after:
        return []
    resolved = expire(alerts.not_evaluated_since(st, now - after), now)
    values = {"status": AlertStatus.RESOLVED.value, "resolved_at": now, "updated_at": now}
    alerts.set_many(
        st, [a.id for a in resolved if a.id is not None], values, at=now, event="resolved",
        actor=ACTOR, data={"reason": "not_evaluated"},
        message=f"condition not evaluated for {after} (target removed or check disabled?)",
    )
    return resolved

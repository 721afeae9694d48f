"""Which channels an alert event goes to (pure): severity, kinds, tags, escalation, silences.

Events that notify: opened, reopened, updated (a severity change), resolved — to every channel
whose filters match — and escalated, to the escalation channels only. `pending` and `dropped`
never notify, nor does the resolution of an alert that never opened. A silenced alert, or an
alert caused by a target whose "unreachable" health alert is active — the target's own alerts
and planwatch's "job <kind>:<target> failed N times" — gets no delivery (one cause, one page);
the suppression is recorded on the alert instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from planwatch.alerting import silences as silence_rules
from planwatch.config.settings import ChannelSettings, EscalationSettings
from planwatch.model.alerts import Alert, AlertKind, Silence

NOTIFYING_EVENTS = frozenset({"opened", "reopened", "updated", "resolved", "escalated"})
SEVERITY_RANK = {"warning": 1, "critical": 2}
UNREACHABLE = "unreachable"  # the health component whose alert inhibits its target's others
SELF = "planwatch"  # the target of planwatch's own health alerts (jobs/health_check.py)


@dataclass(frozen=True, slots=True)
class Decision:
    channels: tuple[str, ...] = ()
    suppressed: str | None = None  # why nothing is sent: a silence or an inhibition


def channel_matches(ch: ChannelSettings, alert: Alert, tags: Iterable[str]) -> bool:
    """min_severity, kinds (empty: all) and tags (empty: all; else any tag in common)."""
    if SEVERITY_RANK.get(alert.severity.value, 0) < SEVERITY_RANK.get(ch.min_severity, 1):
        return False
    if ch.kinds and alert.kind.value not in ch.kinds:
        return False
    return not ch.tags or bool(set(ch.tags) & set(tags))


def inhibited(alert: Alert, unreachable_targets: Iterable[str]) -> bool:
    """An unreachable target's other alerts, and the failure alerts of its jobs, stay quiet
    while its unreachable alert is active."""
    if alert.kind is AlertKind.HEALTH and alert.subject == UNREACHABLE:
        return False
    return caused_by(alert) in set(unreachable_targets)


def caused_by(alert: Alert) -> str:
    """The target an alert is about: its own, or the target of a per-target job's health
    alert (`job:collection:orders-db` on target planwatch)."""
    if alert.kind is AlertKind.HEALTH and alert.target == SELF and alert.subject.startswith(
            "job:"):
        _, _, target = alert.subject.removeprefix("job:").partition(":")
        return target or alert.target
    return alert.target


def decide(
    alert: Alert,
    event: str,
    *,
    channels: Sequence[ChannelSettings],
    escalation: EscalationSettings,
    tags: Iterable[str],
    silences: Iterable[Silence],
    unreachable_targets: Iterable[str],
    now: datetime,
) -> Decision:
    if event not in NOTIFYING_EVENTS or (event == "resolved" and alert.opened_at is None):
        return Decision()
    tag_list = list(tags)
    if event == "escalated":
        names = {c.name for c in channels}
        chosen = tuple(n for n in escalation.channels if n in names)
    else:
        chosen = tuple(c.name for c in channels if channel_matches(c, alert, tag_list))
    if not chosen:
        return Decision()
    silence = silence_rules.silencing(alert, silences, now, tag_list)
    if silence is not None:
        return Decision(suppressed=f"silenced by {silence_rules.describe(silence)}")
    if inhibited(alert, unreachable_targets):
        return Decision(suppressed=f"inhibited: target {caused_by(alert)} is unreachable")
    return Decision(channels=chosen)

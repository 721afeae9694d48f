"""Grouping per channel, as Alertmanager's route does it (pure).

Alerts with equal `group_by` labels form a group. A new group's first message waits
`group_wait` after its first event, to collect the rest of a burst; later changes go out at
most once per `group_interval`; while the group has firing alerts and nothing changed, it is
re-sent every `repeat_interval`. A group whose alerts have all resolved starts afresh.
An Alertmanager channel keeps no groups of its own (Alertmanager groups): every change is
posted at once, and its firing alerts are re-posted every `repeat_interval` (default 1m) so
Alertmanager does not resolve them on its `resolve_timeout` (default 5m).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from planwatch.config.settings import ChannelSettings

ALERTMANAGER_PREFIX = "alertmanager+"
EVERY_ALERT = "..."  # group_by: each alert on its own
FIRING_EVENTS = frozenset({"opened", "reopened", "updated", "escalated"})

DEFAULT_BY = ("target", "kind")
DEFAULT_WAIT = timedelta(seconds=30)
DEFAULT_INTERVAL = timedelta(minutes=5)
DEFAULT_REPEAT = timedelta(hours=4)
ALERTMANAGER_REPEAT = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class GroupPolicy:
    by: tuple[str, ...]
    wait: timedelta
    interval: timedelta
    repeat: timedelta
    alertmanager: bool = False


def is_alertmanager(ch: ChannelSettings) -> bool:
    return ch.url.reveal().startswith(ALERTMANAGER_PREFIX)


def policy(ch: ChannelSettings) -> GroupPolicy:
    if is_alertmanager(ch):
        return GroupPolicy((), timedelta(0), timedelta(0),
                           ch.repeat_interval or ALERTMANAGER_REPEAT, alertmanager=True)
    return GroupPolicy(
        by=ch.group_by if ch.group_by is not None else DEFAULT_BY,
        wait=ch.group_wait if ch.group_wait is not None else DEFAULT_WAIT,
        interval=ch.group_interval if ch.group_interval is not None else DEFAULT_INTERVAL,
        repeat=ch.repeat_interval or DEFAULT_REPEAT,
    )


def labels(doc: Mapping[str, Any], by: tuple[str, ...]) -> dict[str, str]:
    """The group labels of an event document (`messages.payload`), in `by` order; `alert`
    (its id) when each alert is alone; none when everything is one group (Alertmanager)."""
    alert = {**doc["alert"], "subject": doc.get("subject")}
    if by == (EVERY_ALERT,):
        return {"alert": str(alert["id"])}
    return {name: str(alert.get(name) or "") for name in by}


def key(labels: Mapping[str, str]) -> str:
    """The group key: `target=orders-db,kind=regression`."""
    return ",".join(f"{k}={v}" for k, v in labels.items())


def due(
    oldest: datetime, last_sent: datetime | None, firing: bool, p: GroupPolicy, now: datetime
) -> bool:
    """Whether a group with events waiting since `oldest` gets its message now."""
    if last_sent is None or not firing:  # a new group (or one that had all resolved)
        return now >= oldest + p.wait
    return now >= last_sent + p.interval


def repeat_due(last_sent: datetime | None, firing: bool, p: GroupPolicy, now: datetime) -> bool:
    return firing and last_sent is not None and now >= last_sent + p.repeat


def firing_after(before: Iterable[int], events: Iterable[tuple[int, str]]) -> tuple[int, ...]:
    """The alerts firing after `events` ((alert id, event) in order) on top of `before`."""
    firing = dict.fromkeys(before)
    for alert_id, event in events:
        if event in FIRING_EVENTS:
            firing[alert_id] = None
        elif event == "resolved":
            firing.pop(alert_id, None)
    return tuple(sorted(firing))

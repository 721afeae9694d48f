"""Route alert events into the outbox, then batch each channel's groups into messages.

Both steps are blocking storage work in bulk, done by the alert processing job before it
delivers (alerting/delivery.py). Routing writes one outbox row per (event, channel) with the
row's group (alerting/grouping.py); batching turns the rows of every group that is due into
one message with its idempotency key, and records what the channel will have been told.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from planwatch.alerting import alertmanager, grouping, messages, routing
from planwatch.config.settings import Settings
from planwatch.model.alerts import Alert, AlertEvent, AlertKind, Delivery, Notification, Silence
from planwatch.storage import alerts, outbox
from planwatch.storage import notifications as store
from planwatch.storage.engine import Storage
from planwatch.storage.notifications import Batch, GroupState

GIVE_UP_AFTER = timedelta(hours=24)  # a message still unsent this long after it was made
FORGET_GROUPS_AFTER = timedelta(days=1)  # state of an all-resolved group is kept this long


@dataclass
class RouteStats:
    events: int = 0
    enqueued: int = 0
    suppressed: int = 0
    messages: int = 0  # made by batching in this cycle


def target_tags(settings: Settings) -> dict[str, tuple[str, ...]]:
    return {t.name: t.tags for t in settings.targets}


def route_pending(
    st: Storage, settings: Settings, silences: Sequence[Silence], now: datetime
) -> RouteStats:
    """Turn every unrouted event into outbox rows (or a "notification_suppressed" note)."""
    stats = RouteStats()
    pending = outbox.unrouted(st)
    if not pending:
        return stats
    cfg = settings.alerting
    tags = target_tags(settings)
    base = messages.base_url(settings.http)
    unreachable = unreachable_targets(st)
    by = {c.name: grouping.policy(c).by for c in cfg.channels}
    deliveries: list[Delivery] = []
    notes: list[AlertEvent] = []
    for item in pending:
        a, ev = item.alert, item.event
        decision = routing.decide(
            a, ev.event, channels=cfg.channels, escalation=cfg.escalation,
            tags=tags.get(a.target, ()), silences=silences, unreachable_targets=unreachable,
            now=now,
        )
        if decision.suppressed is not None:
            notes.append(AlertEvent(ev.alert_id, now, "notification_suppressed",
                                    "alert_processing", decision.suppressed,
                                    {"event_id": item.event_id, "event": ev.event}))
            continue
        if decision.channels:
            payload = messages.payload(a, ev, base=base)
            deliveries += [Delivery(None, ev.alert_id, item.event_id, name, payload,
                                    grouping.key(grouping.labels(payload, by[name])), ev.at)
                           for name in decision.channels]
    stats.events, stats.suppressed = len(pending), len(notes)
    stats.enqueued = outbox.route(
        st, event_ids=[p.event_id for p in pending], deliveries=deliveries, notes=notes, now=now
    )
    return stats


def unreachable_targets(st: Storage) -> set[str]:
    found = alerts.list_alerts(st, status="open", kind=AlertKind.HEALTH.value, limit=100_000)
    return {a.target for a in found if a.subject == routing.UNREACHABLE}


def batch_due(st: Storage, settings: Settings, now: datetime) -> int:
    """Make one message per due group of every channel; returns how many."""
    channels = {c.name: c for c in settings.alerting.channels}
    states = store.groups(st)
    due: dict[tuple[str, str], grouping.GroupPolicy] = {}
    last = 0
    for w in outbox.waiting(st):
        ch = channels.get(w.channel)
        if ch is None:
            outbox.give_up_waiting(st, w.channel, now - GIVE_UP_AFTER)
            continue
        state = states.get((w.channel, w.group_key))
        p = grouping.policy(ch)
        if grouping.due(w.oldest, state.last_sent_at if state else None,
                        bool(state and state.firing), p, now):
            due[(w.channel, w.group_key)] = p
            last = max(last, w.last_id)
    base = messages.base_url(settings.http)

    def plan(rows: Sequence[Delivery], current: Mapping[tuple[str, str], GroupState]
             ) -> list[Batch]:
        by_group: dict[tuple[str, str], list[Delivery]] = {}
        for d in rows:
            by_group.setdefault((d.channel, d.group_key), []).append(d)
        return [_batch(group, due[k], current.get(k), base, now)
                for k, group in by_group.items()]

    made = store.batch_waiting(st, due, last, plan, now=now)
    store.forget_groups(st, [s for s in states.values() if not s.firing and s.last_sent_at
                             and now - s.last_sent_at > FORGET_GROUPS_AFTER])
    return made


def _batch(rows: Sequence[Delivery], p: grouping.GroupPolicy, state: GroupState | None,
           base: str, now: datetime) -> Batch:
    """Pure: the message carrying `rows` (one group's, oldest first)."""
    channel, group_key = rows[0].channel, rows[0].group_key
    events = [(d.event_id, d.payload) for d in rows]
    before = state.firing if state else ()
    firing = grouping.firing_after(before, [(d.alert_id, d.payload["event"]) for d in rows])
    seq = (state.seq if state else 0) + 1
    first = messages.event_key(channel, *events[0])
    key = first if len(events) == 1 else messages.key("group", channel, group_key, seq, first)
    labels = state.labels if state else grouping.labels(rows[0].payload, p.by)
    group = {"key": group_key, "labels": labels, "firing": len(firing)}
    if p.alertmanager:
        title, text, doc = alertmanager.batch(events, channel=channel, message_key=key)
    else:
        title, text, doc = messages.group_message(events, channel=channel, group=group,
                                                  message_key=key, base=base)
    message = Notification(None, channel, "alerts", key, title, text, doc, group_key=group_key,
                           items=len(rows), created_at=now, expires_at=now + GIVE_UP_AFTER)
    return Batch(message, tuple(d.id for d in rows if d.id is not None),
                 GroupState(channel, group_key, labels, firing, seq, now))


def summary_messages(
    settings: Settings, *, title: str, text: str, html: str, payload: dict[str, object],
    key_parts: tuple[object, ...], now: datetime,
) -> list[Notification]:
    """The daily summary as one message per channel (Alertmanager channels excepted)."""
    out = []
    for ch in settings.alerting.channels:
        if grouping.is_alertmanager(ch):
            continue
        key = messages.key("summary", ch.name, *key_parts)
        out.append(Notification(None, ch.name, "daily_summary", key, title, text,
                                {**payload, "idempotency_key": key}, html=html,
                                created_at=now, expires_at=now + GIVE_UP_AFTER))
    return out


def firing_alerts(st: Storage, state: GroupState) -> list[Alert]:
    """The group's firing alerts that are still active, as they are now."""
    return [a for a in alerts.by_ids(st, state.firing) if a.status.value != "resolved"]

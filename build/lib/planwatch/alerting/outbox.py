"""Route alert events into the outbox, then deliver due rows, each channel on its own.

Routing is blocking storage work in bulk. Delivery runs one coroutine per channel: a channel
that times out or answers 500 only backs off its own rows (exponentially per row attempt,
with the `scheduling.backoff` policy: 30s, 60s, ... 10m), the others keep going. Rows
older than `GIVE_UP_AFTER` are marked failed instead of retried.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import structlog

from planwatch import logs
from planwatch.alerting import messages, routing
from planwatch.alerting.channels import Channel, DeliveryError, Message
from planwatch.config.settings import Settings
from planwatch.model.alerts import AlertEvent, AlertKind, Delivery, Silence
from planwatch.scheduling.backoff import RetryPolicy
from planwatch.storage import alerts, outbox
from planwatch.storage.engine import Storage

log = structlog.stdlib.get_logger(__name__)
T = TypeVar("T")
Blocking = Callable[..., Awaitable[Any]]

RETRY = RetryPolicy(initial=timedelta(seconds=30), multiplier=2.0, max=timedelta(minutes=10))
GIVE_UP_AFTER = timedelta(hours=24)
CLAIM_HOLD = timedelta(minutes=2)  # longer than any single send may take
BATCH = 50


@dataclass
class RouteStats:
    events: int = 0
    enqueued: int = 0
    suppressed: int = 0


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    given_up: int = 0
    failing_channels: list[str] = field(default_factory=list)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, outcome)


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
    unreachable = _unreachable_targets(st)
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
            deliveries += [Delivery(None, ev.alert_id, item.event_id, name, payload)
                           for name in decision.channels]
    stats.events, stats.suppressed = len(pending), len(notes)
    stats.enqueued = outbox.route(
        st, event_ids=[p.event_id for p in pending], deliveries=deliveries, notes=notes, now=now
    )
    return stats


def _unreachable_targets(st: Storage) -> set[str]:
    found = alerts.list_alerts(st, status="open", kind=AlertKind.HEALTH.value, limit=100_000)
    return {a.target for a in found if a.subject == routing.UNREACHABLE}


def message_of(d: Delivery) -> Message:
    p = d.payload
    return Message(title=str(p.get("title", "planwatch")), text=str(p.get("text", "")),
                   payload=p)


async def deliver_due(
    st: Storage,
    channels: Mapping[str, Channel],
    *,
    now: datetime,
    blocking: Blocking,
    policy: RetryPolicy = RETRY,
) -> DeliveryStats:
    """Send every due row; one task per channel so a failing channel delays only itself."""
    stats = DeliveryStats()
    due = await blocking(outbox.channels_due, st, now)
    tasks = []
    for name in due:
        channel = channels.get(name)
        if channel is None:
            continue  # a channel removed from the config: its rows wait (or age out)
        tasks.append(_deliver_channel(st, channel, now, blocking, policy, stats))
    await asyncio.gather(*tasks)
    await blocking(_give_up_orphans, st, set(due) - set(channels), now, stats)
    return stats


async def _deliver_channel(
    st: Storage,
    channel: Channel,
    now: datetime,
    blocking: Blocking,
    policy: RetryPolicy,
    stats: DeliveryStats,
) -> None:
    while True:
        batch: list[Delivery] = await blocking(
            partial(outbox.claim, st, channel.name, now=now, hold=CLAIM_HOLD, limit=BATCH)
        )
        for i, d in enumerate(batch):
            try:
                await blocking(channel.send, message_of(d))
            except Exception as exc:  # any failure of one channel stays with that channel
                error = _describe(exc)
                retry_at = await blocking(_record_failure, st, d, now, error, policy, stats)
                stats.failing_channels.append(channel.name)
                stats.outcomes[(channel.name, "failed")] += 1
                log.warning("notification.failed", channel=channel.name, alert=d.alert_id,
                            attempt=d.attempts + 1, error=error)
                await blocking(partial(outbox.release, st, batch[i + 1:], until=retry_at))
                return
            await blocking(partial(outbox.mark_sent, st, d, now=now))
            stats.sent += 1
            stats.outcomes[(channel.name, "sent")] += 1
            log.info("notification.sent", channel=channel.name, alert=d.alert_id,
                     alert_event=d.payload.get("event"))
        if len(batch) < BATCH:
            return


def _describe(exc: Exception) -> str:
    if isinstance(exc, DeliveryError):
        return str(exc)
    return logs.mask(f"{type(exc).__name__}: {exc}")[:500]


def _record_failure(
    st: Storage, d: Delivery, now: datetime, error: str, policy: RetryPolicy,
    stats: DeliveryStats,
) -> datetime:
    too_old = d.created_at is not None and now - d.created_at >= GIVE_UP_AFTER
    retry_at = None if too_old else now + policy.delay(d.attempts + 1)
    outbox.mark_failed(st, d, now=now, error=error, retry_at=retry_at)
    stats.failed += 1
    stats.given_up += too_old
    return retry_at or now + policy.max


def _give_up_orphans(st: Storage, names: Iterable[str], now: datetime,
                     stats: DeliveryStats) -> None:
    """Rows of channels no longer configured: failed once they are too old to matter."""
    for name in names:
        for d in outbox.claim(st, name, now=now, hold=CLAIM_HOLD, limit=1000):
            if d.created_at is not None and now - d.created_at >= GIVE_UP_AFTER:
                outbox.mark_failed(st, d, now=now, error="channel no longer configured",
                                   retry_at=None)
                stats.given_up += 1
            else:
                outbox.release(st, [d], until=now + RETRY.max)

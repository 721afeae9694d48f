"""Deliver due messages, each channel on its own; re-send what a group still has firing.

One coroutine per channel: a channel that times out or answers 500 only backs off its own
messages (exponentially per message attempt, with the `scheduling.backoff` policy: 30s, 60s,
... 10m), the others keep going. A message still unsent `GIVE_UP_AFTER` after it was made is
given up (`failed`: listed by `planwatch notifications --failed`, re-sendable).

Delivery is at least once, with the message's idempotency key on every attempt. A message is
claimed before it is sent and marked sent right after the channel accepted it; when the worker
is stopped meanwhile (SIGTERM), the send in flight gets `STOP_GRACE_S` to finish and be
recorded, so a clean stop sends nothing twice. Only a crash between the send and its record
(or a receiver that has not answered within the grace) leaves a claim behind: the message is
sent again, with the same key, once the claim's worker is known to be gone (marked Dead, or
Stopped) or after `CLAIM_HOLD`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog

from planwatch import redaction
from planwatch.alerting import alertmanager, channels, grouping, messages, routing
from planwatch.alerting import silences as silence_rules
from planwatch.alerting.channels import Channel, DeliveryError, Message
from planwatch.alerting.outbox import firing_alerts
from planwatch.config.settings import Settings
from planwatch.model.alerts import Alert, Notification, Silence
from planwatch.scheduling.backoff import RetryPolicy
from planwatch.storage import notifications as store
from planwatch.storage.engine import Storage
from planwatch.storage.notifications import GroupState

log = structlog.stdlib.get_logger(__name__)
Blocking = Callable[..., Awaitable[Any]]

RETRY = RetryPolicy(initial=timedelta(seconds=30), multiplier=2.0, max=timedelta(minutes=10))
CLAIM_HOLD = timedelta(minutes=2)  # longer than any single send may take
STOP_GRACE_S = 3.5  # within the scheduler's 5 s for cancelled runs to finish
BATCH = 20
CHANNEL_BUDGET_S = 60.0  # sending time per channel per cycle before new batches wait


@dataclass(frozen=True)
class Context:
    """What one delivery cycle works with."""

    storage: Storage
    now: datetime
    blocking: Blocking
    worker: str  # claims are recorded in this worker's name
    base: str  # dashboard URL, for links
    retry: RetryPolicy = RETRY
    silences: Sequence[Silence] = ()
    tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    unreachable: frozenset[str] = frozenset()


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    given_up: int = 0
    repeated: int = 0  # reminders and Alertmanager re-posts
    failing_channels: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # the last error per channel
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, outcome)


def message_of(x: Notification) -> Message:
    return Message(title=x.title, text=x.text, payload=x.payload, html=x.html, key=x.key)


async def deliver_due(
    ctx: Context, channels: Mapping[str, tuple[Channel, grouping.GroupPolicy]]
) -> DeliveryStats:
    """Send every due message, then reminders; one task per channel."""
    stats = DeliveryStats()
    states = await ctx.blocking(store.groups, ctx.storage)
    unsent = await ctx.blocking(store.unsent_groups, ctx.storage)  # no reminder before them
    tasks = [_deliver_channel(ctx, ch, gp, [s for key, s in states.items()
                                            if s.channel == name and key not in unsent], stats)
             for name, (ch, gp) in channels.items()]
    results = await asyncio.gather(*tasks, return_exceptions=True)  # let every channel finish
    for name in set(await ctx.blocking(store.pending_channels, ctx.storage)) - set(channels):
        stats.given_up += await ctx.blocking(store.give_up_expired, ctx.storage, name, ctx.now)
    for r in results:
        if isinstance(r, BaseException):  # storage trouble: the job run fails visibly
            raise r
    return stats


async def _deliver_channel(
    ctx: Context, channel: Channel, gp: grouping.GroupPolicy, states: list[GroupState],
    stats: DeliveryStats,
) -> None:
    deadline = time.monotonic() + CHANNEL_BUDGET_S
    while time.monotonic() < deadline:  # a slow channel stops here; its rest waits a cycle
        batch: list[Notification] = await ctx.blocking(partial(
            store.claim, ctx.storage, channel.name, now=ctx.now, hold=CLAIM_HOLD,
            worker=ctx.worker, limit=BATCH))
        for i, x in enumerate(batch):
            retry_at = await _send(ctx, channel, x, stats)
            if retry_at is not None:
                await ctx.blocking(partial(store.release, ctx.storage, batch[i + 1:],
                                           until=retry_at))
                return
        if len(batch) < BATCH:
            break
    for s in states:
        if grouping.repeat_due(s.last_sent_at, bool(s.firing), gp, ctx.now):
            await _repeat(ctx, channel, gp, s, stats)


async def _send(ctx: Context, channel: Channel, x: Notification,
                stats: DeliveryStats) -> datetime | None:
    """Send one claimed message and record the outcome; when it failed, when to retry."""
    attempt = asyncio.ensure_future(ctx.blocking(channel.send, message_of(x)))
    try:
        await asyncio.wait({attempt})  # never raises the send's error; cancelling leaves it
    except asyncio.CancelledError:  # stopping: let the send in flight finish and record it
        await asyncio.wait({attempt}, timeout=STOP_GRACE_S)
        if attempt.done():
            await _record(ctx, channel.name, x, attempt.exception(), stats)
        else:
            log.warning("notification.in_doubt", channel=channel.name, notification=x.id,
                        detail="no answer before the stop; sent again (same key) after restart")
        raise
    return await _record(ctx, channel.name, x, attempt.exception(), stats)


async def _record(ctx: Context, channel: str, x: Notification, exc: BaseException | None,
                  stats: DeliveryStats) -> datetime | None:
    if exc is None:
        await ctx.blocking(partial(store.mark_sent, ctx.storage, x, now=ctx.now))
        stats.sent += 1
        stats.outcomes[(channel, "sent")] += 1
        log.info("notification.sent", channel=channel, notification=x.id, idempotency_key=x.key,
                 items=x.items)
        return None
    error = describe(exc)
    expired = x.expires_at is not None and ctx.now >= x.expires_at
    retry_at = None if expired else ctx.now + ctx.retry.delay(x.attempts + 1)
    await ctx.blocking(partial(store.mark_failed, ctx.storage, x, now=ctx.now, error=error,
                               retry_at=retry_at))
    stats.failed += 1
    stats.given_up += expired
    stats.failing_channels.append(channel)
    stats.errors[channel] = error
    stats.outcomes[(channel, "failed")] += 1
    log.warning("notification.failed", channel=channel, notification=x.id,
                attempt=x.attempts + 1, error=error, given_up=expired)
    return retry_at or ctx.now + ctx.retry.max


async def _repeat(ctx: Context, channel: Channel, gp: grouping.GroupPolicy, s: GroupState,
                  stats: DeliveryStats) -> None:
    """Remind a human channel of the group's firing alerts; keep Alertmanager's alive."""
    alerts: list[Alert] = await ctx.blocking(firing_alerts, ctx.storage, s)
    shown = alerts if gp.alertmanager else [a for a in alerts if not _quiet(ctx, a)]
    due_at = (s.last_sent_at or ctx.now) + gp.repeat
    key = messages.key("repeat", channel.name, s.group_key, due_at.isoformat())
    if shown:
        try:
            await ctx.blocking(channel.send, _reminder(ctx, channel.name, gp, s, shown, key))
        except Exception as exc:  # retried next cycle: the group's clock did not move
            stats.outcomes[(channel.name, "failed")] += 1
            stats.failing_channels.append(channel.name)
            log.warning("notification.repeat_failed", channel=channel.name, group=s.group_key,
                        error=describe(exc))
            return
        stats.repeated += 1
        stats.outcomes[(channel.name, "sent")] += 1
        if not gp.alertmanager:
            await ctx.blocking(partial(store.audit_reminder, ctx.storage, channel.name, key,
                                       [a.id for a in shown if a.id is not None], ctx.now))
    firing = tuple(a.id for a in alerts if a.id is not None)
    await ctx.blocking(store.save_group, ctx.storage,
                       replace(s, firing=firing, last_sent_at=ctx.now))


def _quiet(ctx: Context, a: Alert) -> bool:
    """Silenced or inhibited now: not worth a reminder."""
    tags = ctx.tags.get(a.target, ())
    silenced = silence_rules.silencing(a, ctx.silences, ctx.now, tags) is not None
    return silenced or routing.inhibited(a, ctx.unreachable)


def _reminder(ctx: Context, channel: str, gp: grouping.GroupPolicy, s: GroupState,
              alerts: list[Alert], key: str) -> Message:
    if gp.alertmanager:
        docs = alertmanager.repost(alerts, channel=channel, base=ctx.base)
        return Message(f"{len(docs)} firing alert(s) re-posted", "", {"alerts": docs}, key=key)
    group = {"key": s.group_key, "labels": s.labels, "firing": len(alerts)}
    title, text, doc = messages.reminder(alerts, group=group, message_key=key, base=ctx.base)
    return Message(title, text, doc, key=key)


async def send_now(st: Storage, settings: Settings, keys: Sequence[str], now: datetime, *,
                   worker: str) -> dict[str, str | None]:
    """Send the messages with these keys at once (`planwatch summary`), one attempt each;
    each channel's error, or None when it accepted."""
    ctx = Context(st, now, asyncio.to_thread, worker, messages.base_url(settings.http),
                  RetryPolicy.from_settings(settings.scheduling.backoff))
    stats = DeliveryStats()
    results: dict[str, str | None] = {}
    for cfg in settings.alerting.channels:
        for x in await asyncio.to_thread(partial(store.claim, st, cfg.name, now=now,
                                                 hold=CLAIM_HOLD, worker=worker, keys=keys)):
            await _send(ctx, channels.create(cfg), x, stats)
            results[cfg.name] = stats.errors.get(cfg.name)
    return results


def describe(exc: BaseException) -> str:
    if isinstance(exc, DeliveryError):
        return str(exc)
    return redaction.redact(f"{type(exc).__name__}: {exc}")[:500]

"""What the `summary` and `silences` CLI commands do, kept out of the argument parsing."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta

from planwatch.alerting import delivery, silences, summary
from planwatch.config.settings import Settings
from planwatch.model.alerts import Silence
from planwatch.storage import silences as silence_store
from planwatch.storage.engine import Storage


def send_summary(st: Storage, settings: Settings, now: datetime) -> dict[str, str | None]:
    """Put the summary in the outbox and send it now; each channel's error or None. A channel
    that failed gets it again from the worker's alert processing, like any notification."""
    keys = summary.enqueue(st, settings, summary.collect(st, settings, now), now,
                           key=("manual", now.isoformat()))
    return asyncio.run(delivery.send_now(st, settings, keys, now, worker=f"cli:{os.getpid()}"))


def add_silence(
    st: Storage,
    matchers: list[str],
    *,
    duration: timedelta,
    starts_at: datetime | None,
    comment: str,
    actor: str,
    now: datetime,
) -> Silence:
    if duration <= timedelta(0):
        raise silences.InvalidSilence("the silence's duration must be positive")
    start = starts_at or now
    silence = Silence(None, silences.parse_matchers(matchers), start, start + duration,
                      comment, actor)
    return silence_store.add(st, silence, now=now)


def silence_rows(st: Storage, settings: Settings, now: datetime, *, every: bool) -> list[Silence]:
    """Config silences first, then stored ones (only those not ended unless `every`)."""
    stored = silence_store.list_silences(st, active_at=None if every else now)
    configured = silences.from_settings(settings.alerting.silences)
    if not every:
        configured = [s for s in configured if s.ends_at is None or s.ends_at > now]
    return [*configured, *stored]


def silences_table(rows: list[Silence], now: datetime) -> str:
    if not rows:
        return "no silences"
    lines = [f"{'ID':>6}  {'STATE':8}  {'ENDS (UTC)':16}  MATCHERS / COMMENT"]
    for s in rows:
        state = "active" if s.active(now) else ("pending" if s.starts_at and s.starts_at > now
                                                 else "expired")
        ends = s.ends_at.strftime("%Y-%m-%d %H:%M") if s.ends_at else "never"
        what = " ".join(f"{k}={v}" for k, v in sorted(s.matchers.items()))
        ident = "config" if s.id is None else str(s.id)
        lines.append(f"{ident:>6}  {state:8}  {ends:16}  {what}"
                     + (f"  # {s.comment}" if s.comment else ""))
    return "\n".join(lines)


"""When does a job run next? Pure functions of its `JobSettings` and explicit times.

Three kinds: `interval` (fixed rate), `at` (daily UTC time of day) and `cron` (croniter,
UTC). Jitter is deterministic: a hash of the job's key picks an offset in [0, jitter), so
the same target always polls at the same phase and different targets spread out. For
calendar triggers the offset shifts every firing; for interval triggers it shifts the
first run (fixed rate then keeps the phase).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from croniter import croniter

from planwatch.config.settings import JobSettings

_ZERO = timedelta(0)


def jitter_offset(key: str, jitter: timedelta) -> timedelta:
    """A stable offset in [0, jitter) for `key` (same key, same offset, across processes)."""
    if jitter <= _ZERO:
        return _ZERO
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / 2**64
    return timedelta(microseconds=int(fraction * (jitter // timedelta(microseconds=1))))


def next_run(
    settings: JobSettings, after: datetime, *, key: str = "", jitter: timedelta = _ZERO
) -> datetime | None:
    """The first firing strictly after `after`, or None when the job is not scheduled."""
    if not settings.enabled:
        return None
    after = _utc(after)
    if settings.cron is not None:
        return _next_cron(settings.cron, after, jitter_offset(key, jitter))
    if settings.at is not None:
        return _next_daily(settings, after, jitter_offset(key, jitter))
    if settings.interval is not None:
        return after + _positive(settings.interval)
    return None


def first_run(
    settings: JobSettings, started_at: datetime, key: str = "", jitter: timedelta = _ZERO
) -> datetime | None:
    """The first firing after a (re)start: `startup_delay` later, interval jobs right then."""
    if not settings.enabled:
        return None
    start = _utc(started_at) + settings.startup_delay
    if settings.cron is None and settings.at is None and settings.interval is not None:
        _positive(settings.interval)
        return start + jitter_offset(key, jitter)
    return next_run(settings, start, key=key, jitter=jitter)


def next_due(
    settings: JobSettings,
    due: datetime,
    now: datetime,
    *,
    key: str = "",
    jitter: timedelta = _ZERO,
) -> datetime | None:
    """The firing after `due` that is still in the future: missed firings coalesce into one.

    Interval jobs keep their phase (`due + k * interval`); calendar jobs take the next
    calendar time after `now`.
    """
    if not settings.enabled:
        return None
    due, now = _utc(due), _utc(now)
    if settings.cron is None and settings.at is None and settings.interval is not None:
        interval = _positive(settings.interval)
        candidate = due + interval
        if candidate <= now:
            candidate += ((now - candidate) // interval + 1) * interval
        return candidate
    return next_run(settings, max(due, now), key=key, jitter=jitter)


def _next_cron(expression: str, after: datetime, offset: timedelta) -> datetime:
    base = after - offset
    nxt: datetime = croniter(expression, base).get_next(datetime)
    return _utc(nxt) + offset


def _next_daily(settings: JobSettings, after: datetime, offset: timedelta) -> datetime:
    assert settings.at is not None
    base = after - offset
    at = settings.at.replace(tzinfo=None)
    candidate = datetime.combine(base.date(), at, tzinfo=UTC)
    if candidate <= base:
        candidate += timedelta(days=1)
    return candidate + offset


def _positive(interval: timedelta) -> timedelta:
    if interval <= _ZERO:
        raise ValueError(f"job interval must be positive, got {interval}")
    return interval


def _utc(moment: datetime) -> datetime:
    """Aware UTC; naive datetimes are taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)

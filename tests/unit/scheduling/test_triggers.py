from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from planwatch.config.settings import JobSettings
from planwatch.scheduling import triggers

T0 = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)
EVERY_5M = JobSettings(interval=timedelta(minutes=5))


def test_interval_is_a_fixed_rate_from_after() -> None:
    assert triggers.next_run(EVERY_5M, T0) == T0 + timedelta(minutes=5)


def test_daily_at_today_or_tomorrow() -> None:
    at_8 = JobSettings(at=time(8, 0))
    assert triggers.next_run(at_8, datetime(2024, 5, 1, 7, 0, tzinfo=UTC)) == datetime(
        2024, 5, 1, 8, 0, tzinfo=UTC
    )
    assert triggers.next_run(at_8, datetime(2024, 5, 1, 8, 0, tzinfo=UTC)) == datetime(
        2024, 5, 2, 8, 0, tzinfo=UTC
    )


def test_cron_in_utc() -> None:
    weekly = JobSettings(cron="0 4 * * 0")  # Sundays 04:00
    assert triggers.next_run(weekly, T0) == datetime(2024, 5, 5, 4, 0, tzinfo=UTC)


def test_naive_times_are_taken_as_utc() -> None:
    naive = datetime(2024, 5, 1, 7, 0)
    assert triggers.next_run(JobSettings(at=time(8, 0)), naive) == datetime(
        2024, 5, 1, 8, 0, tzinfo=UTC
    )


def test_disabled_and_unscheduled_jobs_never_run() -> None:
    assert triggers.next_run(JobSettings(enabled=False, interval=timedelta(1)), T0) is None
    assert triggers.first_run(JobSettings(enabled=False, cron="* * * * *"), T0) is None
    assert triggers.next_run(JobSettings(), T0) is None


def test_zero_interval_is_an_error() -> None:
    with pytest.raises(ValueError):
        triggers.next_run(JobSettings(interval=timedelta(0)), T0)


def test_jitter_is_deterministic_per_key_and_bounded() -> None:
    jitter = timedelta(seconds=5)
    offsets = {key: triggers.jitter_offset(key, jitter) for key in ("a", "b", "c", "d", "e")}
    assert offsets == {key: triggers.jitter_offset(key, jitter) for key in offsets}
    assert all(timedelta(0) <= o < jitter for o in offsets.values())
    assert len(set(offsets.values())) > 1
    assert triggers.jitter_offset("a", timedelta(0)) == timedelta(0)


def test_jitter_shifts_calendar_triggers_consistently() -> None:
    hourly = JobSettings(cron="0 * * * *")
    jitter = timedelta(minutes=10)
    offset = triggers.jitter_offset("collection:db1", jitter)
    first = triggers.next_run(hourly, T0, key="collection:db1", jitter=jitter)
    hour = 12 if datetime(2024, 5, 1, 12, 0, tzinfo=UTC) + offset > T0 else 13
    assert first == datetime(2024, 5, 1, hour, 0, tzinfo=UTC) + offset
    assert first is not None
    second = triggers.next_run(hourly, first, key="collection:db1", jitter=jitter)
    assert second == first + timedelta(hours=1)


def test_first_run_applies_startup_delay_and_jitter() -> None:
    settings = JobSettings(interval=timedelta(minutes=5), startup_delay=timedelta(seconds=10))
    jitter = timedelta(seconds=5)
    expected = T0 + timedelta(seconds=10) + triggers.jitter_offset("k", jitter)
    assert triggers.first_run(settings, T0, "k", jitter) == expected


def test_first_run_of_a_calendar_job_counts_from_after_the_delay() -> None:
    settings = JobSettings(at=time(12, 1), startup_delay=timedelta(minutes=1))
    assert triggers.first_run(settings, T0) == datetime(2024, 5, 2, 12, 1, tzinfo=UTC)


def test_missed_interval_firings_coalesce_and_keep_the_phase() -> None:
    due = T0
    now = T0 + timedelta(minutes=17)
    assert triggers.next_due(EVERY_5M, due, now) == T0 + timedelta(minutes=20)
    assert triggers.next_due(EVERY_5M, due, T0 + timedelta(minutes=1)) == T0 + timedelta(minutes=5)


def test_missed_calendar_firings_coalesce() -> None:
    daily = JobSettings(at=time(2, 0))
    due = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
    now = datetime(2024, 5, 4, 9, 0, tzinfo=UTC)
    assert triggers.next_due(daily, due, now) == datetime(2024, 5, 5, 2, 0, tzinfo=UTC)

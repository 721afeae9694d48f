from __future__ import annotations

from datetime import time, timedelta

import pytest

from planwatch.config.durations import format_duration, parse_duration, parse_time_of_day


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
        ("250ms", timedelta(milliseconds=250)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m 15s", timedelta(hours=1, minutes=30, seconds=15)),
        ("1.5h", timedelta(minutes=90)),
        ("10 minutes", timedelta(minutes=10)),
        ("2 days", timedelta(days=2)),
        ("PT5M", timedelta(minutes=5)),
        ("P1D", timedelta(days=1)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("PT1H30M10S", timedelta(hours=1, minutes=30, seconds=10)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("P2W", timedelta(weeks=2)),
        ("pt5m", timedelta(minutes=5)),
        ("90", timedelta(seconds=90)),
        ("1.5", timedelta(seconds=1.5)),
        (90, timedelta(seconds=90)),
        (0.25, timedelta(milliseconds=250)),
        (timedelta(hours=3), timedelta(hours=3)),
    ],
)
def test_duration_forms(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "bad", ["", "5x", "m5", "5m junk", "1h-30m", "P", "PT", "P1Y", "P1M", "1:30", True, None, []]
)
def test_invalid_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("02:00", time(2, 0)), ("8:30", time(8, 30)), ("23:59:30", time(23, 59, 30))],
)
def test_time_of_day(text: str, expected: time) -> None:
    assert parse_time_of_day(text) == expected


@pytest.mark.parametrize("bad", ["24:00", "12:60", "noon", "1230", 120, ""])
def test_invalid_time_of_day(bad: object) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_time_of_day(bad)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=2), "2h"),
        (timedelta(days=1, minutes=5), "1d5m"),
        (timedelta(milliseconds=500), "0.5s"),
        (timedelta(0), "0s"),
    ],
)
def test_format_duration(value: timedelta, text: str) -> None:
    assert format_duration(value) == text

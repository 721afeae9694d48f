"""Parsing of the human-friendly duration and time-of-day forms the YAML file accepts.

Pure functions that raise `ValueError` with a message fit for a config error; the schema
wraps them in `Annotated` types.
"""

from __future__ import annotations

import re
from datetime import time, timedelta

_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_NUMBER = r"\d+(?:\.\d+)?"
_PART = re.compile(rf"\s*({_NUMBER})\s*([a-z]+)")
_PLAIN = re.compile(rf"[+-]?{_NUMBER}")
_ISO = re.compile(
    rf"P(?:(?P<w>{_NUMBER})W)?(?:(?P<d>{_NUMBER})D)?"
    rf"(?:T(?:(?P<h>{_NUMBER})H)?(?:(?P<m>{_NUMBER})M)?(?:(?P<s>{_NUMBER})S)?)?"
)
_ISO_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_TIME_OF_DAY = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")

DURATION_HELP = "use e.g. 30s, 5m, 2h, 1d, 1h30m, ISO-8601 PT5M, or a number of seconds"


def parse_duration(value: object) -> timedelta:
    """`30s`, `5m`, `1h30m`, `PT5M`, `P1D`, `90` (seconds) or a timedelta -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a duration; {DURATION_HELP}")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    text = value.strip()
    if _PLAIN.fullmatch(text):
        return timedelta(seconds=float(text))
    if text[:1] in ("P", "p"):
        return _parse_iso(text.upper(), value)
    return _parse_units(text.lower(), value)


def _parse_iso(text: str, original: str) -> timedelta:
    match = _ISO.fullmatch(text)
    parts = match.groupdict() if match else {}
    if not match or not any(parts.values()) or text.endswith("T"):
        raise ValueError(f"invalid duration {original!r}; {DURATION_HELP}")
    seconds = sum(float(v) * _ISO_SECONDS[k] for k, v in parts.items() if v)
    return timedelta(seconds=seconds)


def _parse_units(text: str, original: str) -> timedelta:
    seconds, pos = 0.0, 0
    for match in _PART.finditer(text):
        unit = _UNITS.get(match.group(2))
        if match.start() != pos or unit is None:
            break
        seconds += float(match.group(1)) * unit
        pos = match.end()
    if pos == 0 or text[pos:].strip():
        raise ValueError(f"invalid duration {original!r}; {DURATION_HELP}")
    return timedelta(seconds=seconds)


def parse_time_of_day(value: object) -> time:
    """`HH:MM` (or `HH:MM:SS`), a UTC time of day -> naive `datetime.time`."""
    if isinstance(value, time):
        return value
    match = _TIME_OF_DAY.fullmatch(value.strip()) if isinstance(value, str) else None
    if match:
        hour, minute, second = (int(g or 0) for g in match.groups())
        if hour < 24 and minute < 60 and second < 60:
            return time(hour, minute, second)
    raise ValueError(f"invalid time of day {value!r}; expected UTC 'HH:MM', e.g. '02:30'")


def format_duration(value: timedelta) -> str:
    """The shortest unit form (`90s` -> `1m30s`), for docs, logs and the CLI."""
    total = value.total_seconds()
    if total <= 0 or total != int(total):
        return f"{total:g}s"
    out, rest = "", int(total)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        out += f"{count}{unit}" if count else ""
    return out

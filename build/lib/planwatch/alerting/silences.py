"""Silences and maintenance windows: which alerts they cover and when (pure).

A silence suppresses notifications, never detection: the alert is still opened, updated and
resolved, and the suppressed notification is written to its audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from fnmatch import fnmatchcase

from planwatch.config.settings import SilenceSettings
from planwatch.errors import PlanwatchError
from planwatch.model.alerts import Alert, Silence

# Alert fields a matcher names; "tag": any tag of the alert's target. Other keys of config
# silences match the alert's `details` (a check's labels, ...); the CLI accepts these only.
MATCHER_KEYS = ("kind", "target", "database", "severity", "subject", "query_id", "dedup_key",
                "status", "title", "tag")


class InvalidSilence(PlanwatchError):
    """The silence is not valid."""


def from_settings(items: Iterable[SilenceSettings]) -> list[Silence]:
    """Silences of the configuration file (their ids are None: they are not stored)."""
    return [
        Silence(
            id=None, matchers=dict(s.matchers),
            starts_at=datetime.fromisoformat(s.starts_at) if s.starts_at else None,
            ends_at=datetime.fromisoformat(s.ends_at) if s.ends_at else None,
            comment=s.comment, created_by="config",
        )
        for s in items
    ]


def parse_matchers(texts: Sequence[str]) -> dict[str, str]:
    """`["target=orders-*", "kind=check"]` -> matchers; unknown keys are an error."""
    matchers: dict[str, str] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise InvalidSilence(f"matcher {text!r} is not KEY=VALUE")
        if key not in MATCHER_KEYS:
            known = ", ".join(MATCHER_KEYS)
            raise InvalidSilence(f"unknown matcher key {key!r}; use one of {known}")
        matchers[key] = value.strip()
    if not matchers:
        raise InvalidSilence("a silence needs at least one matcher (KEY=VALUE)")
    return matchers


def matches(silence: Silence, alert: Alert, tags: Iterable[str] = ()) -> bool:
    """Every matcher's glob matches the alert's field (case-sensitive, like names)."""
    tag_list = list(tags)
    for key, pattern in silence.matchers.items():
        if key == "tag":
            if not any(fnmatchcase(t, pattern) for t in tag_list):
                return False
            continue
        value = getattr(alert, key) if key in MATCHER_KEYS else alert.details.get(key)
        if value is None and key not in MATCHER_KEYS:
            return False  # a key the alert does not have never matches
        if not fnmatchcase("" if value is None else str(value), pattern):
            return False
    return True


def silencing(
    alert: Alert, silences: Iterable[Silence], now: datetime, tags: Iterable[str] = ()
) -> Silence | None:
    """The first silence active at `now` that covers the alert, if any."""
    tag_list = list(tags)
    for s in silences:
        if s.active(now) and matches(s, alert, tag_list):
            return s
    return None


def describe(s: Silence) -> str:
    ident = f"silence {s.id}" if s.id is not None else "config silence"
    what = ", ".join(f"{k}={v}" for k, v in sorted(s.matchers.items()))
    return f"{ident} ({what})" + (f": {s.comment}" if s.comment else "")

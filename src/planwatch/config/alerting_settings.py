"""The `alerting` section: channels, escalation, silences and the alert lifecycle's timing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, ValidatorFunctionWrapHandler, model_validator, with_config

from planwatch.config.fields import (
    ALERT_KINDS,
    SECTION,
    Duration,
    DurationOrZero,
    Name,
    PositiveInt,
    SecretText,
    Tag,
    UtcDatetime,
    ValidatedAs,
)

GROUP_LABELS = Literal["kind", "target", "database", "severity", "subject", "query_id", "..."]
ALERTMANAGER_PREFIX = "alertmanager+"
_AM_OWN = ("group_by", "group_wait", "group_interval")


@with_config(SECTION)
@dataclass(frozen=True, slots=True)
class ChannelSettings:
    name: Name
    url: SecretText  # an apprise URL, `webhook+https://...` or `alertmanager+http://...`
    min_severity: Literal["warning", "critical"] = "warning"
    kinds: tuple[ALERT_KINDS, ...] = ()
    tags: tuple[Tag, ...] = ()
    # grouping, as Alertmanager's route does it; None: the channel type's default (grouping.py)
    group_by: tuple[GROUP_LABELS, ...] | None = None
    group_wait: DurationOrZero | None = None
    group_interval: DurationOrZero | None = None
    repeat_interval: Duration | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _grouping(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> ChannelSettings:
        channel: ChannelSettings = handler(data)
        given = [n for n in _AM_OWN if n in data] if isinstance(data, dict) else []
        if channel.url.reveal().startswith(ALERTMANAGER_PREFIX) and given:
            raise ValueError(f"{', '.join(given)}: Alertmanager groups alerts itself; "
                             "set grouping in its route, not on this channel")
        if channel.group_by and "..." in channel.group_by and len(channel.group_by) > 1:
            raise ValueError("group_by: '...' (every alert on its own) stands alone")
        return channel


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


UtcText = Annotated[str | None, ValidatedAs(UtcDatetime | None, _iso)]
"""A date and time, kept as UTC ISO-8601 text."""


@with_config(ConfigDict(extra="forbid", coerce_numbers_to_str=True))
@dataclass(frozen=True, slots=True)
class SilenceSettings:
    matchers: Annotated[dict[str, str], Field(min_length=1)]
    starts_at: UtcText = None
    ends_at: UtcText = None
    comment: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if (self.starts_at and self.ends_at and datetime.fromisoformat(self.ends_at)
                <= datetime.fromisoformat(self.starts_at)):
            raise ValueError("'ends_at' must be after 'starts_at'")
        return self


@with_config(SECTION)
@dataclass(frozen=True, slots=True)
class EscalationSettings:
    after: Duration = timedelta(minutes=60)
    channels: tuple[Name, ...] = ()


@with_config(SECTION)
@dataclass(frozen=True, slots=True)
class AlertingSettings:
    channels: tuple[ChannelSettings, ...] = ()
    repeat_interval: Duration = timedelta(hours=4)
    escalation: EscalationSettings = EscalationSettings()
    auto_resolve_after: Duration = timedelta(minutes=120)
    silences: tuple[SilenceSettings, ...] = ()
    # None: one analysis window / one check interval
    for_: Annotated[DurationOrZero | None, Field(alias="for")] = None
    resolve_after: PositiveInt = 2  # consecutive ok runs that resolve a check alert

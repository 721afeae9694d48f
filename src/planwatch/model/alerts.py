"""Alerts and the audit trail of what happened to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from planwatch.model.findings import Severity


class AlertKind(StrEnum):
    REGRESSION = "regression"
    HOTSPOT = "hotspot"
    CHECK = "check"
    HEALTH = "health"


class AlertStatus(StrEnum):
    PENDING = "pending"
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as stored; `dedup_key` = kind + target + database + subject."""

    id: int | None
    dedup_key: str
    kind: AlertKind
    status: AlertStatus
    severity: Severity
    target: str
    database: str | None
    subject: str  # query id / check name + labels / health component
    title: str
    query_id: str | None = None
    query_text: str | None = None
    plan_changed: bool | None = None
    baseline_ms: float | None = None
    current_ms: float | None = None
    ratio: float | None = None
    opened_at: datetime | None = None
    updated_at: datetime | None = None
    resolved_at: datetime | None = None
    normal_windows: int = 0  # consecutive normal evaluations, for auto-resolution
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    evaluated_at: datetime | None = None  # last time its condition was judged (auto-resolve)
    escalated_at: datetime | None = None
    pending_since: datetime | None = None  # while pending: when its condition was first seen


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One line of an alert's audit trail (opened, updated, resolved, acknowledged, ...)."""

    alert_id: int
    at: datetime
    event: str
    actor: str
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Silence:
    """Suppresses notifications (never detection) for alerts whose fields match `matchers`.

    Matcher values are shell-style globs; every matcher must match. `id` is None for silences
    from the configuration file, which are not stored.
    """

    id: int | None
    matchers: dict[str, str] = field(hash=False, compare=False)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    comment: str = ""
    created_by: str = ""

    def active(self, now: datetime) -> bool:
        started = self.starts_at is None or self.starts_at <= now
        return started and (self.ends_at is None or now < self.ends_at)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification_outbox row: one event of one alert for one channel (id None: new).

    It waits (`notification_id` None) until its group is due, then travels in a Notification.
    """

    id: int | None
    alert_id: int
    event_id: int
    channel: str
    payload: dict[str, Any] = field(hash=False, compare=False)
    group_key: str = ""
    created_at: datetime | None = None


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # given up: shown by `planwatch notifications --failed`, re-sendable


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one channel: a group's events, or a daily summary (id None: new).

    `key` is the idempotency key the receiver sees; a re-send (retry, crash recovery,
    `resend`) sends the stored message again with the same key.
    """

    id: int | None
    channel: str
    kind: str  # alerts | daily_summary
    key: str
    title: str
    text: str
    payload: dict[str, Any] = field(hash=False, compare=False)
    html: str | None = None
    group_key: str = ""
    status: NotificationStatus = NotificationStatus.PENDING
    items: int = 0  # events carried
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None  # given up if still unsent then
    sent_at: datetime | None = None

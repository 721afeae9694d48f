"""Settings and alert builders shared by the alerting integration tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from planwatch.config.settings import (
    DEFAULT_JOBS,
    AlertingSettings,
    ChannelSettings,
    SchedulingSettings,
    Secret,
    Settings,
    TargetSettings,
)
from planwatch.model.alerts import Alert, AlertKind, AlertStatus
from planwatch.model.findings import Severity

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_settings(url: str, channels: list[ChannelSettings], **alerting: Any) -> Settings:
    scheduling = SchedulingSettings(jobs=dict(DEFAULT_JOBS))
    targets = (
        TargetSettings(name="orders-db", engine="postgresql", dsn=Secret("postgresql://x/y"),
                       tags=("prod", "orders")),
        TargetSettings(name="lab-db", engine="postgresql", dsn=Secret("postgresql://x/z"),
                       tags=("lab",)),
    )
    return Settings(
        storage_url=Secret(url), targets=targets, scheduling=scheduling,
        alerting=AlertingSettings(channels=tuple(channels), **alerting),
    )


def regression_alert(qid: str = "101", **kw: Any) -> Alert:
    base = Alert(
        id=None, dedup_key=f"regression:orders-db:shop:{qid}", kind=AlertKind.REGRESSION,
        status=AlertStatus.OPEN, severity=Severity.CRITICAL, target="orders-db",
        database="shop", subject=qid, title=f"query {qid} is 6.0x slower",
        query_id=qid, query_text="SELECT * FROM orders WHERE customer_id = $1",
        plan_changed=True, baseline_ms=2.0, current_ms=12.0, ratio=6.0,
        opened_at=T0, updated_at=T0, evaluated_at=T0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]

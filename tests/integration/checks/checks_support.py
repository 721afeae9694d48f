"""Helpers for check tests: settings for a target and its checks, runner factories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from planwatch.checks.runner import CheckRunner
from planwatch.config.settings import (
    DEFAULT_JOBS,
    CheckSettings,
    SchedulingSettings,
    Secret,
    Settings,
    TargetSettings,
)
from planwatch.scheduling.backoff import RetryPolicy

FAST_RECONNECT = RetryPolicy(initial=timedelta(milliseconds=200), max=timedelta(seconds=1))


def check(name: str, sql: str, **kw: Any) -> CheckSettings:
    kw.setdefault("targets", ("db",))
    kw.setdefault("interval", timedelta(seconds=1))
    kw.setdefault("timeout", timedelta(seconds=10))
    if "operator" not in kw and "warning" not in kw and "critical" not in kw:
        kw.setdefault("critical", "< 0")
    return CheckSettings(name=name, sql=sql, **kw)


def settings(dsn: str, engine: str, *checks: CheckSettings, **sched: Any) -> Settings:
    target = TargetSettings(name="db", engine=engine, dsn=Secret(dsn),
                            connect_timeout=timedelta(seconds=3))
    scheduling = SchedulingSettings(jobs=dict(DEFAULT_JOBS), jitter=timedelta(0), **sched)
    return Settings(storage_url=Secret("sqlite://"), targets=(target,), scheduling=scheduling,
                    checks=checks)


MakeRunner = Callable[..., CheckRunner]

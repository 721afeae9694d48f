"""Every default of SPEC §2, as seen through the frozen settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import time, timedelta

from planwatch.config import loader
from planwatch.config.settings import DEFAULT_JOBS, Settings

LoadText = Callable[..., Settings]


def _empty() -> Settings:
    return loader.load_mapping({}, environ={})


def test_top_level_defaults() -> None:
    settings = _empty()
    assert settings.storage_url.reveal() == "sqlite:///planwatch.db"
    assert settings.targets == ()
    assert settings.checks == ()
    assert (settings.worker_name, settings.environment) == ("", "")
    assert len(settings.digest) == 64


def test_scheduling_defaults() -> None:
    scheduling = _empty().scheduling
    assert set(scheduling.jobs) == {
        "collection", "analysis", "checks", "baseline_rebuild", "daily_summary",
        "alert_processing", "health_check", "heartbeat", "retention_cleanup", "maintenance",
    }  # fmt: skip
    for kind, job in DEFAULT_JOBS.items():
        assert scheduling.jobs[kind] == job
    jobs = scheduling.jobs
    assert jobs["collection"].interval == timedelta(minutes=5)
    assert jobs["collection"].startup_delay == timedelta(seconds=10)
    assert jobs["analysis"].startup_delay == timedelta(seconds=30)
    assert jobs["baseline_rebuild"].at == time(2, 0)
    assert jobs["daily_summary"].at == time(8, 0)
    assert jobs["alert_processing"].interval == timedelta(seconds=30)
    assert jobs["health_check"].interval == timedelta(minutes=1)
    assert jobs["heartbeat"].interval == timedelta(seconds=15)
    assert jobs["retention_cleanup"].cron == "0 3 * * *"
    assert jobs["maintenance"].cron == "0 4 * * 0"
    assert jobs["checks"].interval == timedelta(seconds=15)
    assert all(job.enabled for job in jobs.values())
    assert scheduling.backoff.initial == timedelta(seconds=30)
    assert scheduling.backoff.multiplier == 2.0
    assert scheduling.backoff.max == timedelta(minutes=10)
    assert scheduling.max_consecutive_failures == 5
    assert scheduling.max_parallel_targets == "auto"
    assert scheduling.breaker_failures == 3
    assert scheduling.jitter == timedelta(seconds=5)


def test_analysis_defaults() -> None:
    regression = _empty().analysis.regression
    assert regression.min_ratio == 2.0
    assert regression.critical_ratio == 5.0
    assert regression.min_abs_ms == 5.0
    assert regression.min_calls == 10
    assert regression.min_impact == timedelta(seconds=1)
    assert regression.p_value == 0.01
    assert regression.baseline_days == 7
    assert regression.min_baseline_samples == 12
    assert regression.window == timedelta(minutes=15)
    assert regression.resolve_after_windows == 3
    hotspots = _empty().analysis.hotspots
    assert (hotspots.top_n, hotspots.min_share) == (10, 0.05)


def test_alerting_retention_http_logging_defaults() -> None:
    settings = _empty()
    alerting = settings.alerting
    assert alerting.channels == ()
    assert alerting.repeat_interval == timedelta(hours=4)
    assert alerting.escalation.after == timedelta(minutes=60)
    assert alerting.escalation.channels == ()
    assert alerting.auto_resolve_after == timedelta(minutes=120)
    assert alerting.silences == ()
    retention = settings.retention
    assert retention.samples_days == 30
    assert retention.check_results_days == 30
    assert retention.job_runs_days == 14
    assert retention.resolved_alerts_days == 180
    assert retention.batch_size == 5000
    http = settings.http
    assert (http.enabled, http.host, http.port) == (True, "127.0.0.1", 8080)
    assert (http.token, http.public_read) == (None, False)
    assert (settings.logging.level, settings.logging.format) == ("info", None)


def test_target_defaults(load_text: LoadText) -> None:
    settings = load_text(
        """
        targets:
          - name: db
            dsn: postgresql://app@localhost/app
        """
    )
    target = settings.target("db")
    assert target.engine == "postgresql"
    assert target.databases == ()
    assert (target.environment, target.tags, target.enabled) == ("", (), True)
    assert target.connect_timeout == timedelta(seconds=10)
    assert target.command_timeout == timedelta(seconds=30)
    assert target.plan_capture is True
    assert target.plan_budget == 20
    assert target.explain_per_query_per_hour == 4


def test_check_defaults(load_text: LoadText) -> None:
    settings = load_text(
        """
        targets: [{name: db, dsn: "sqlite:///x.db"}]
        checks:
          - name: c
            target: db
            sql: select count(*) from t
            critical: "> 10"
        """
    )
    (check,) = settings.checks
    assert check.targets == ("db",)
    assert check.tags == ()
    assert check.result == "scalar"
    assert (check.operator, check.expected, check.warning) == (None, None, None)
    assert check.critical == "> 10"
    assert check.interval == timedelta(minutes=1)
    assert check.cron is None
    assert check.timeout == timedelta(seconds=30)
    assert (check.enabled, check.description, check.runbook_url) == (True, "", None)
    assert (check.value_column, check.label_columns) == (None, ())


def test_channel_defaults(load_text: LoadText) -> None:
    settings = load_text("alerting: {channels: [{name: ops, url: 'json://hook.example'}]}")
    (channel,) = settings.alerting.channels
    assert channel.url.reveal() == "json://hook.example"
    assert (channel.min_severity, channel.kinds, channel.tags) == ("warning", (), ())

"""Validated schema model -> frozen `Settings`, and the digest of the effective config."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import time, timedelta
from typing import Any

from planwatch.config import schema
from planwatch.config import settings as s

CHECKS_JOB = s.JobSettings(interval=timedelta(seconds=15))
"""The checks job is a dispatcher: each tick runs the checks that are due."""
CHECK_INTERVAL = timedelta(minutes=1)
"""How often a check without `interval` or `cron` runs."""


def to_settings(config: schema.ConfigModel) -> s.Settings:
    """The frozen settings for a validated config, digest included."""
    settings = s.Settings(
        storage_url=s.Secret(config.storage.url),
        targets=tuple(_target(t) for t in config.targets),
        scheduling=_scheduling(config.scheduling),
        analysis=_analysis(config.analysis),
        checks=tuple(_check(c) for c in config.checks),
        alerting=_alerting(config.alerting),
        retention=_retention(config.retention),
        http=_http(config.http),
        logging=s.LoggingSettings(level=config.logging.level, format=config.logging.format),
        telemetry=_telemetry(config.telemetry),
        worker_name=config.worker.name,
        environment=config.worker.environment,
    )
    return dataclasses.replace(settings, digest=digest(settings))


def digest(settings: s.Settings) -> str:
    """sha256 of the canonical JSON of `settings`, secrets replaced by `***`: equal configs
    have equal digests, and a rotated password alone does not change it."""
    plain = _plain(settings)
    plain.pop("digest", None)
    plain.pop("ignored_env", None)
    canonical = json.dumps(plain, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, s.Secret):
        return "***"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _target(t: schema.TargetModel) -> s.TargetSettings:
    return s.TargetSettings(
        name=t.name,
        engine=t.engine or "",
        dsn=s.Secret(t.dsn),
        databases=tuple(t.databases),
        environment=t.environment,
        tags=tuple(t.tags),
        enabled=t.enabled,
        connect_timeout=t.connect_timeout,
        command_timeout=t.command_timeout,
        plan_capture=t.plan_capture,
        plan_budget=t.plan_budget,
        explain_per_query_per_hour=t.explain_per_query_per_hour,
    )


def _scheduling(m: schema.SchedulingModel) -> s.SchedulingSettings:
    return s.SchedulingSettings(
        jobs={kind: _job(kind, getattr(m, kind)) for kind in schema.JOB_KINDS},
        backoff=s.BackoffSettings(
            initial=m.backoff.initial, multiplier=m.backoff.multiplier, max=m.backoff.max
        ),
        max_consecutive_failures=m.max_consecutive_failures,
        max_parallel_targets=m.max_parallel_targets,
        max_parallel_checks=m.max_parallel_checks,
        breaker_failures=m.breaker_failures,
        jitter=m.jitter,
    )


def _job(kind: str, entry: schema.JobModel | None) -> s.JobSettings:
    """The built-in schedule of `kind` with the fields `entry` gives replacing its own."""
    job = s.DEFAULT_JOBS.get(kind, CHECKS_JOB)
    if entry is None:
        return job
    if entry.interval or entry.at or entry.cron:
        job = dataclasses.replace(job, interval=entry.interval, at=entry.at, cron=entry.cron)
    if entry.enabled is not None:
        job = dataclasses.replace(job, enabled=entry.enabled)
    if entry.startup_delay is not None:
        job = dataclasses.replace(job, startup_delay=entry.startup_delay)
    return job


def _analysis(m: schema.AnalysisModel) -> s.AnalysisSettings:
    return s.AnalysisSettings(
        regression=s.RegressionSettings(**m.regression.model_dump()),
        hotspots=s.HotspotSettings(**m.hotspots.model_dump()),
    )


def _check_metric(m: schema.CheckMetricModel, c: schema.CheckModel) -> s.CheckMetricSettings:
    """Column: given, else the check's value_column, else the one named like the metric."""
    return s.CheckMetricSettings(
        name=m.name, type=m.type, column=m.column or c.value_column or m.name,
        labels=tuple(c.label_columns if m.labels is None else m.labels),
        description=m.description, buckets=tuple(m.buckets or ()), states=tuple(m.states or ()),
        increment=m.increment, expiration=m.expiration,
    )


def _check(c: schema.CheckModel) -> s.CheckSettings:
    interval = c.interval or (None if c.cron else CHECK_INTERVAL)
    return s.CheckSettings(
        name=c.name,
        sql=c.sql or "",
        targets=(c.target,) if c.target else tuple(c.targets or ()),
        tags=tuple(c.tags or ()),
        result=c.result,
        operator=c.operator,
        expected=c.expected,
        warning=c.warning,
        critical=c.critical,
        value_column=c.value_column,
        label_columns=tuple(c.label_columns),
        metrics=tuple(_check_metric(m, c) for m in c.metrics),
        interval=interval,
        cron=c.cron,
        timeout=c.timeout,
        enabled=c.enabled,
        description=c.description,
        runbook_url=c.runbook_url,
        kind=c.kind,
        url=c.url,
        method=c.method,
        expected_status=tuple(c.expected_status),
        contains=c.contains,
        tls_warning_days=c.tls_warning_days,
        tls_critical_days=c.tls_critical_days,
        verify_tls=c.verify_tls,
        for_=c.for_,
        resolve_after=c.resolve_after,
    )


def _alerting(m: schema.AlertingModel) -> s.AlertingSettings:
    return s.AlertingSettings(
        channels=tuple(
            s.ChannelSettings(
                name=ch.name,
                url=s.Secret(ch.url),
                min_severity=ch.min_severity,
                kinds=tuple(ch.kinds),
                tags=tuple(ch.tags),
                group_by=tuple(ch.group_by) if ch.group_by is not None else None,
                group_wait=ch.group_wait,
                group_interval=ch.group_interval,
                repeat_interval=ch.repeat_interval,
            )
            for ch in m.channels
        ),
        repeat_interval=m.repeat_interval,
        escalation=s.EscalationSettings(
            after=m.escalation.after, channels=tuple(m.escalation.channels)
        ),
        auto_resolve_after=m.auto_resolve_after,
        silences=tuple(
            s.SilenceSettings(
                matchers=dict(si.matchers),
                starts_at=si.starts_at.isoformat() if si.starts_at else None,
                ends_at=si.ends_at.isoformat() if si.ends_at else None,
                comment=si.comment,
            )
            for si in m.silences
        ),
        for_=m.for_,
        resolve_after=m.resolve_after,
    )


def _retention(m: schema.RetentionModel) -> s.RetentionSettings:
    return s.RetentionSettings(
        samples_days=m.samples,
        samples_hourly_days=m.samples_hourly,
        check_results_days=m.check_results,
        job_runs_days=m.job_runs,
        resolved_alerts_days=m.resolved_alerts,
        batch_size=m.batch_size,
    )


def _http(m: schema.HttpModel) -> s.HttpSettings:
    return s.HttpSettings(
        enabled=m.enabled,
        host=m.host,
        port=m.port,
        token=s.Secret(m.token) if m.token else None,
        public_read=m.public_read,
        public_url=m.public_url.rstrip("/") if m.public_url else None,
    )


def _telemetry(m: schema.TelemetryModel) -> s.TelemetrySettings:
    return s.TelemetrySettings(
        enabled=m.enabled, endpoint=m.endpoint.rstrip("/"), service_name=m.service_name,
        traces=m.traces, metrics=m.metrics, export_interval=m.export_interval,
        headers=tuple((k, s.Secret(v)) for k, v in sorted(m.headers.items())),
    )

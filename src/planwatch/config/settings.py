"""Frozen settings: the only view of the configuration that code outside `config/` sees.

Durations are `timedelta`; times of day are `datetime.time` in UTC. Secrets are already
decrypted/interpolated here and are wrapped in `Secret` so that `repr()` never shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any

from planwatch.model.policies import HotspotSettings as HotspotSettings  # analysis policies
from planwatch.model.policies import RegressionSettings as RegressionSettings


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret string whose repr/str never reveal it; call `.reveal()` at the point of use."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "********"

    def __repr__(self) -> str:
        return "Secret('********')"


@dataclass(frozen=True, slots=True)
class TargetSettings:
    name: str
    engine: str  # postgresql | mysql | mariadb | sqlserver | sqlite | <sqlalchemy dialect>
    dsn: Secret
    databases: tuple[str, ...] = ()
    environment: str = ""
    tags: tuple[str, ...] = ()
    enabled: bool = True
    connect_timeout: timedelta = timedelta(seconds=10)
    command_timeout: timedelta = timedelta(seconds=30)
    plan_capture: bool = True
    plan_budget: int = 20  # EXPLAINs per collection cycle
    explain_per_query_per_hour: int = 4

    @property
    def safe_dsn(self) -> str:
        """The DSN with any password masked, for logs and the UI."""
        from planwatch.redaction import redact as mask_dsn

        return mask_dsn(self.dsn.reveal())


@dataclass(frozen=True, slots=True)
class JobSettings:
    enabled: bool = True
    interval: timedelta | None = None
    at: time | None = None  # daily at this UTC time
    cron: str | None = None
    startup_delay: timedelta = timedelta(0)


@dataclass(frozen=True, slots=True)
class BackoffSettings:
    initial: timedelta = timedelta(seconds=30)
    multiplier: float = 2.0
    max: timedelta = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class SchedulingSettings:
    jobs: dict[str, JobSettings]  # keyed by job kind: collection, analysis, ...
    backoff: BackoffSettings = BackoffSettings()
    max_consecutive_failures: int = 5
    max_parallel_targets: int = 8
    max_parallel_checks: int = 5
    breaker_failures: int = 3  # consecutive failures that open a target's circuit
    jitter: timedelta = timedelta(seconds=5)  # max deterministic per-target jitter


@dataclass(frozen=True, slots=True)
class AnalysisSettings:
    regression: RegressionSettings = RegressionSettings()
    hotspots: HotspotSettings = HotspotSettings()


@dataclass(frozen=True, slots=True)
class CheckMetricSettings:
    """A result column a check publishes as a Prometheus metric (query-exporter style)."""

    name: str
    type: str  # gauge | counter | histogram | enum
    column: str
    labels: tuple[str, ...] = ()  # result columns, after the `target` label
    description: str = ""
    buckets: tuple[float, ...] = ()  # histogram; empty: prometheus_client's defaults
    states: tuple[str, ...] = ()  # enum
    increment: bool = False  # counter: add each value instead of setting the total
    expiration: timedelta | None = None


@dataclass(frozen=True, slots=True)
class CheckSettings:
    name: str
    sql: str
    targets: tuple[str, ...] = ()  # explicit target names
    tags: tuple[str, ...] = ()  # select targets carrying any of these tags
    result: str = "scalar"  # scalar | rowcount | dataset | nonquery
    operator: str | None = None
    expected: Any = None
    warning: str | None = None  # e.g. "> 1000"
    critical: str | None = None
    value_column: str | None = None
    label_columns: tuple[str, ...] = ()
    metrics: tuple[CheckMetricSettings, ...] = ()
    interval: timedelta | None = None
    cron: str | None = None
    timeout: timedelta = timedelta(seconds=30)
    enabled: bool = True
    description: str = ""
    runbook_url: str | None = None
    kind: str = "sql"  # sql | http
    url: str | None = None  # kind http
    method: str = "GET"
    expected_status: tuple[int, ...] = ()  # empty: any 2xx/3xx
    contains: str | None = None  # the response body must contain this
    tls_warning_days: int | None = None
    tls_critical_days: int | None = None
    verify_tls: bool = True
    for_: timedelta | None = None  # a failure must last this long to alert; None: one interval
    resolve_after: int | None = None  # consecutive ok runs that resolve; None: alerting's


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    name: str
    url: Secret
    min_severity: str = "warning"
    kinds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    group_by: tuple[str, ...] | None = None  # None: the channel type's default (grouping.py)
    group_wait: timedelta | None = None
    group_interval: timedelta | None = None
    repeat_interval: timedelta | None = None


@dataclass(frozen=True, slots=True)
class SilenceSettings:
    matchers: dict[str, str]
    starts_at: str | None = None
    ends_at: str | None = None
    comment: str = ""


@dataclass(frozen=True, slots=True)
class EscalationSettings:
    after: timedelta = timedelta(minutes=60)
    channels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AlertingSettings:
    channels: tuple[ChannelSettings, ...] = ()
    repeat_interval: timedelta = timedelta(hours=4)
    escalation: EscalationSettings = EscalationSettings()
    auto_resolve_after: timedelta = timedelta(minutes=120)
    silences: tuple[SilenceSettings, ...] = ()
    for_: timedelta | None = None  # None: one analysis window / one check interval
    resolve_after: int = 2  # consecutive ok runs that resolve a check alert


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    samples_days: int = 30
    samples_hourly_days: int = 365  # raw samples are rolled up hourly before they expire
    check_results_days: int = 30
    job_runs_days: int = 14
    resolved_alerts_days: int = 180
    batch_size: int = 5000


@dataclass(frozen=True, slots=True)
class HttpSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    token: Secret | None = None
    public_read: bool = False
    public_url: str | None = None  # base of links in notifications; default http://host:port


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    level: str = "info"
    format: str | None = None  # json | console; None = console on a TTY, json otherwise


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    enabled: bool = False
    endpoint: str = "http://localhost:4318"
    service_name: str = "planwatch"
    traces: bool = True
    metrics: bool = True
    export_interval: timedelta = timedelta(seconds=30)
    headers: tuple[tuple[str, Secret], ...] = ()


@dataclass(frozen=True, slots=True)
class Settings:
    storage_url: Secret
    targets: tuple[TargetSettings, ...]
    scheduling: SchedulingSettings
    analysis: AnalysisSettings = AnalysisSettings()
    checks: tuple[CheckSettings, ...] = ()
    alerting: AlertingSettings = AlertingSettings()
    retention: RetentionSettings = RetentionSettings()
    http: HttpSettings = HttpSettings()
    logging: LoggingSettings = LoggingSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    worker_name: str = ""
    environment: str = ""
    digest: str = ""  # sha256 of the effective config, recorded on the worker row
    # PLANWATCH_* variables that name no setting (service links, typos): logged once, ignored
    ignored_env: tuple[str, ...] = field(default=(), compare=False)

    def target(self, name: str) -> TargetSettings:
        for t in self.targets:
            if t.name == name:
                return t
        raise KeyError(name)


DEFAULT_JOBS: dict[str, JobSettings] = {
    "collection": JobSettings(interval=timedelta(minutes=5), startup_delay=timedelta(seconds=10)),
    "analysis": JobSettings(interval=timedelta(minutes=5), startup_delay=timedelta(seconds=30)),
    "baseline_rebuild": JobSettings(at=time(2, 0)),
    "daily_summary": JobSettings(at=time(8, 0)),
    "alert_processing": JobSettings(interval=timedelta(seconds=30)),
    "health_check": JobSettings(interval=timedelta(minutes=1)),
    "heartbeat": JobSettings(interval=timedelta(seconds=15)),
    "retention_cleanup": JobSettings(cron="0 3 * * *"),
    "maintenance": JobSettings(cron="0 4 * * 0"),
}

"""Frozen settings: every section of the configuration and its defaults, defined once.

Each class is both what planwatch.yaml is validated against (pydantic reads the annotated
constraints and validators; see `loader`) and the only view of the configuration that code
outside `config/` sees. They are plain frozen dataclasses: building one in code validates
nothing, only loading the file does. Durations are `timedelta`; times of day are
`datetime.time` in UTC. Secrets are already decrypted/interpolated here and are wrapped in
`Secret` so that `repr()` never shows them. The check and alerting sections live in their
own modules and are re-exported here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import InitVar, dataclass, field
from datetime import time, timedelta
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
    with_config,
)

from planwatch.config.alerting_settings import AlertingSettings as AlertingSettings
from planwatch.config.alerting_settings import ChannelSettings as ChannelSettings
from planwatch.config.alerting_settings import EscalationSettings as EscalationSettings
from planwatch.config.alerting_settings import SilenceSettings as SilenceSettings
from planwatch.config.check_settings import CheckMetricSettings as CheckMetricSettings
from planwatch.config.check_settings import CheckSettings as CheckSettings
from planwatch.config.fields import (
    NOT_IN_FILE,
    SECTION,
    CountOrAuto,
    CronExpr,
    Duration,
    DurationOrZero,
    Engine,
    Name,
    NonEmpty,
    OptionalSecret,
    PositiveInt,
    SecretDsn,
    Tag,
    TimeOfDay,
    ValidatedAs,
    exactly_one_of,
    infer_engine,
    lower,
    null_as,
    plain_section,
)
from planwatch.config.fields import Secret as Secret
from planwatch.model.policies import HotspotSettings as HotspotSettings  # analysis policies
from planwatch.model.policies import RegressionSettings as RegressionSettings


@with_config(SECTION)
@dataclass(frozen=True, slots=True)
class TargetSettings:
    name: Name
    # postgresql | mysql | mariadb | sqlserver | sqlite | <sqlalchemy dialect>; in the file,
    # inferred from the DSN when left out
    engine: Annotated[Engine, null_as(""), Field(default="")]
    dsn: SecretDsn
    databases: tuple[NonEmpty, ...] = ()
    environment: str = ""
    tags: tuple[Tag, ...] = ()
    enabled: bool = True
    connect_timeout: Duration = timedelta(seconds=10)
    command_timeout: Duration = timedelta(seconds=30)
    plan_capture: bool = True
    plan_budget: Annotated[int, Field(ge=0)] = 20  # EXPLAINs per collection cycle
    explain_per_query_per_hour: Annotated[int, Field(ge=0)] = 4

    @model_validator(mode="after")
    def _infer_engine(self) -> Self:
        if not self.engine:
            object.__setattr__(self, "engine", infer_engine(self.dsn.reveal()))
        return self

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


class JobPatch(BaseModel):
    """One job's entry in planwatch.yaml: the fields it gives replace the job's built-in ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool | None = None
    interval: Duration | None = None
    at: TimeOfDay | None = None
    cron: CronExpr | None = None
    startup_delay: DurationOrZero | None = None

    @model_validator(mode="after")
    def _one_timing(self) -> Self:
        exactly_one_of(dict(self), ("interval", "at", "cron"), required=False)
        return self

    def applied_to(self, job: JobSettings) -> JobSettings:
        """`job` with the fields this entry gives; a new timing replaces the old one whole."""
        if self.interval or self.at or self.cron:
            job = dataclasses.replace(job, interval=self.interval, at=self.at, cron=self.cron)
        if self.enabled is not None:
            job = dataclasses.replace(job, enabled=self.enabled)
        if self.startup_delay is not None:
            job = dataclasses.replace(job, startup_delay=self.startup_delay)
        return job


@with_config(SECTION)
@dataclass(frozen=True, slots=True)
class BackoffSettings:
    initial: Duration = timedelta(seconds=30)
    multiplier: Annotated[float, Field(ge=1.0)] = 2.0
    max: Duration = timedelta(minutes=10)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max < self.initial:
            raise ValueError("'max' must not be shorter than 'initial'")
        return self


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
CHECKS_JOB = JobSettings(interval=timedelta(seconds=15))
"""The checks job is a dispatcher: each tick runs the checks that are due."""
JOB_KINDS = (
    "collection", "analysis", "checks", "baseline_rebuild", "daily_summary",
    "alert_processing", "health_check", "heartbeat", "retention_cleanup", "maintenance",
)  # fmt: skip


POLL_BUDGET = timedelta(seconds=2)  # a poll's wall time `max_parallel_targets: auto` allows


def default_jobs() -> dict[str, JobSettings]:
    """The built-in schedule of every job kind."""
    return {kind: DEFAULT_JOBS.get(kind, CHECKS_JOB) for kind in JOB_KINDS}


@with_config(SECTION)
@dataclass(frozen=True, slots=True)
class SchedulingSettings:
    """In the file each job is set by its kind (`collection: {interval: 1m}`), in the order of
    `JOB_KINDS`; code reads the result in `jobs`."""

    jobs: Annotated[dict[str, JobSettings], Field(default_factory=default_jobs), NOT_IN_FILE]
    backoff: BackoffSettings = BackoffSettings()
    max_consecutive_failures: PositiveInt = 5
    max_parallel_targets: CountOrAuto = "auto"  # see Settings.parallel_targets
    max_parallel_checks: PositiveInt = 5
    breaker_failures: PositiveInt = 3  # consecutive failures that open a target's circuit
    jitter: DurationOrZero = timedelta(seconds=5)  # max deterministic per-target jitter
    collection: InitVar[JobPatch | None] = None
    analysis: InitVar[JobPatch | None] = None
    checks: InitVar[JobPatch | None] = None
    baseline_rebuild: InitVar[JobPatch | None] = None
    daily_summary: InitVar[JobPatch | None] = None
    alert_processing: InitVar[JobPatch | None] = None
    health_check: InitVar[JobPatch | None] = None
    heartbeat: InitVar[JobPatch | None] = None
    retention_cleanup: InitVar[JobPatch | None] = None
    maintenance: InitVar[JobPatch | None] = None

    def __post_init__(self, *entries: JobPatch | None) -> None:
        """Apply the file's job entries (in `JOB_KINDS` order) to the built-in schedules."""
        given = {kind: e for kind, e in zip(JOB_KINDS, entries, strict=True) if e is not None}
        if given:
            jobs = {kind: given[kind].applied_to(job) if kind in given else job
                    for kind, job in self.jobs.items()}
            object.__setattr__(self, "jobs", jobs)


def _ordered_ratios(regression: RegressionSettings) -> None:
    if regression.critical_ratio < regression.min_ratio:
        raise ValueError("'critical_ratio' must not be below 'min_ratio'")


_REGRESSION_RULES = plain_section(
    RegressionSettings, _ordered_ratios,
    min_ratio=Annotated[float, Field(gt=1.0)],
    critical_ratio=Annotated[float, Field(gt=1.0)],
    min_abs_ms=Annotated[float, Field(ge=0)],
    min_calls=PositiveInt,
    min_impact=DurationOrZero,
    p_value=Annotated[float, Field(gt=0, lt=1)],
    baseline_days=PositiveInt,
    min_baseline_samples=PositiveInt,
    window=Duration,
    resolve_after_windows=PositiveInt,
)
_HOTSPOT_RULES = plain_section(
    HotspotSettings, top_n=PositiveInt, min_share=Annotated[float, Field(ge=0, le=1)])


@with_config(SECTION)
@dataclass(frozen=True, slots=True)
class AnalysisSettings:
    regression: Annotated[RegressionSettings, _REGRESSION_RULES] = RegressionSettings()
    hotspots: Annotated[HotspotSettings, _HOTSPOT_RULES] = HotspotSettings()


@with_config(SECTION)
@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """Days to keep each kind of data; the file names them without `_days`."""

    samples_days: Annotated[PositiveInt, Field(alias="samples")] = 30
    # raw samples are rolled up hourly before they expire
    samples_hourly_days: Annotated[PositiveInt, Field(alias="samples_hourly")] = 365
    check_results_days: Annotated[PositiveInt, Field(alias="check_results")] = 30
    job_runs_days: Annotated[PositiveInt, Field(alias="job_runs")] = 14
    resolved_alerts_days: Annotated[PositiveInt, Field(alias="resolved_alerts")] = 180
    batch_size: PositiveInt = 5000


def _strip_slash(url: str) -> str:
    return url.rstrip("/")


def _base_url(value: str | None) -> str | None:
    return _strip_slash(value) if value else None


@with_config(SECTION)
@dataclass(frozen=True, slots=True)
class HttpSettings:
    enabled: bool = True
    host: NonEmpty = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    token: OptionalSecret = None  # required for write actions
    public_read: bool = False
    # base of links in notifications, e.g. https://planwatch.example.com; default http://host:port
    public_url: Annotated[str | None, AfterValidator(_base_url)] = None


@with_config(SECTION)
@dataclass(frozen=True, slots=True)
class LoggingSettings:
    level: Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(lower)] = "info"
    format: Literal["json", "console"] | None = None  # None = console on a TTY, json otherwise


def _secret_headers(headers: dict[str, str]) -> tuple[tuple[str, Secret], ...]:
    return tuple((k, Secret(v)) for k, v in sorted(headers.items()))


@with_config(SECTION)
@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    enabled: bool = False
    # OTLP/HTTP collector base URL
    endpoint: Annotated[NonEmpty, AfterValidator(_strip_slash)] = "http://localhost:4318"
    service_name: NonEmpty = "planwatch"
    traces: bool = True
    metrics: bool = True
    export_interval: Duration = timedelta(seconds=30)
    # e.g. an API key for a hosted collector; a mapping in the file
    headers: Annotated[tuple[tuple[str, Secret], ...],
                       ValidatedAs(dict[NonEmpty, NonEmpty], _secret_headers)] = ()


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole configuration; `schema.ConfigModel` is its shape in the file."""

    storage_url: Secret
    targets: tuple[TargetSettings, ...]
    scheduling: SchedulingSettings
    analysis: AnalysisSettings = AnalysisSettings()
    checks: tuple[CheckSettings, ...] = ()
    alerting: AlertingSettings = field(default_factory=AlertingSettings)
    retention: RetentionSettings = RetentionSettings()
    http: HttpSettings = HttpSettings()
    logging: LoggingSettings = LoggingSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    worker_name: str = ""
    environment: str = ""
    digest: str = ""  # sha256 of the effective config, recorded on the worker row
    # PLANWATCH_* variables that name no setting (service links, typos): logged once, ignored
    ignored_env: tuple[str, ...] = field(default=(), compare=False)

    @property
    def parallel_targets(self) -> int:
        """Collections run at once: `max_parallel_targets`, or with `auto` enough for every
        enabled target's poll to take up to POLL_BUDGET (Little's law), within 8..256: a fixed
        8 serves only ~1,000 targets at 60 s polls of ~0.5 s."""
        sched = self.scheduling
        if sched.max_parallel_targets != "auto":
            return sched.max_parallel_targets
        interval = sched.jobs["collection"].interval or timedelta(minutes=1)
        enabled = sum(t.enabled for t in self.targets)
        return max(8, min(256, math.ceil(enabled * POLL_BUDGET / interval)))

    def target(self, name: str) -> TargetSettings:
        for t in self.targets:
            if t.name == name:
                return t
        raise KeyError(name)

"""The pydantic schema of planwatch.yaml: sections, defaults and per-item rules.

Only the loader uses these models; it turns them into the frozen `settings.Settings`.
Rules that span sections (unique names, references between sections) live in `rules.py`
so they are reported even when some field elsewhere is invalid.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal, Self, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from planwatch.config.fields import (
    ALERT_KINDS,
    ORDERED_OPERATORS,
    CronExpr,
    Dsn,
    Duration,
    DurationOrZero,
    Engine,
    Name,
    NonEmpty,
    OptionalSecret,
    PositiveInt,
    StorageUrl,
    Tag,
    Threshold,
    TimeOfDay,
    UtcDatetime,
    exactly_one_of,
    infer_engine,
    lower,
)
from planwatch.config.fields import parse_threshold as parse_threshold

JOB_KINDS = (
    "collection", "analysis", "checks", "baseline_rebuild", "daily_summary",
    "alert_processing", "health_check", "heartbeat", "retention_cleanup", "maintenance",
)  # fmt: skip


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- sections ---------------------------------------------------------------------------


class StorageModel(_Model):
    url: StorageUrl = "sqlite:///planwatch.db"


class TargetModel(_Model):
    name: Name
    engine: Engine | None = None  # inferred from the DSN when omitted
    dsn: Dsn
    databases: list[NonEmpty] = []
    environment: str = ""
    tags: list[Tag] = []
    enabled: bool = True
    connect_timeout: Duration = timedelta(seconds=10)
    command_timeout: Duration = timedelta(seconds=30)
    plan_capture: bool = True
    plan_budget: int = Field(default=20, ge=0)
    explain_per_query_per_hour: int = Field(default=4, ge=0)

    @model_validator(mode="after")
    def _infer_engine(self) -> Self:
        if self.engine is None:
            object.__setattr__(self, "engine", infer_engine(self.dsn))
        return self


class JobModel(_Model):
    """One job's schedule; fields left out keep the built-in default for that job."""

    enabled: bool | None = None
    interval: Duration | None = None
    at: TimeOfDay | None = None
    cron: CronExpr | None = None
    startup_delay: DurationOrZero | None = None

    @model_validator(mode="after")
    def _one_timing(self) -> Self:
        exactly_one_of(self, ("interval", "at", "cron"), required=False)
        return self


class BackoffModel(_Model):
    initial: Duration = timedelta(seconds=30)
    multiplier: float = Field(default=2.0, ge=1.0)
    max: Duration = timedelta(minutes=10)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max < self.initial:
            raise ValueError("'max' must not be shorter than 'initial'")
        return self


class SchedulingModel(_Model):
    collection: JobModel | None = None
    analysis: JobModel | None = None
    checks: JobModel | None = None
    baseline_rebuild: JobModel | None = None
    daily_summary: JobModel | None = None
    alert_processing: JobModel | None = None
    health_check: JobModel | None = None
    heartbeat: JobModel | None = None
    retention_cleanup: JobModel | None = None
    maintenance: JobModel | None = None
    backoff: BackoffModel = BackoffModel()
    max_consecutive_failures: PositiveInt = 5
    max_parallel_targets: PositiveInt = 8
    max_parallel_checks: PositiveInt = 5
    breaker_failures: PositiveInt = 3
    jitter: DurationOrZero = timedelta(seconds=5)


class RegressionModel(_Model):
    min_ratio: float = Field(default=2.0, gt=1.0)
    critical_ratio: float = Field(default=5.0, gt=1.0)
    min_abs_ms: float = Field(default=5.0, ge=0)
    min_calls: PositiveInt = 10
    min_impact: DurationOrZero = timedelta(seconds=1)
    p_value: float = Field(default=0.01, gt=0, lt=1)
    baseline_days: PositiveInt = 7
    min_baseline_samples: PositiveInt = 12
    window: Duration = timedelta(minutes=15)
    resolve_after_windows: PositiveInt = 3

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.critical_ratio < self.min_ratio:
            raise ValueError("'critical_ratio' must not be below 'min_ratio'")
        return self


class HotspotsModel(_Model):
    top_n: PositiveInt = 10
    min_share: float = Field(default=0.05, ge=0, le=1)


class AnalysisModel(_Model):
    regression: RegressionModel = RegressionModel()
    hotspots: HotspotsModel = HotspotsModel()


HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
SQL_FIELDS = ("sql", "result", "operator", "expected", "value_column", "label_columns",
              "metrics")
HTTP_FIELDS = ("url", "method", "expected_status", "contains", "tls_warning_days",
               "tls_critical_days", "verify_tls")


def upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _only_for(model: BaseModel, kind: str, names: tuple[str, ...]) -> None:
    given = [n for n in names if n in model.model_fields_set]
    if given:
        listing = ", ".join(f"'{n}'" for n in given)
        raise ValueError(f"{listing} only apply to checks of kind '{kind}'")


MetricName = Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]


class CheckMetricModel(_Model):
    """A result column published as a named Prometheus metric, as query-exporter does."""

    name: MetricName
    type: Literal["gauge", "counter", "histogram", "enum"] = "gauge"
    description: str = ""
    column: NonEmpty | None = None  # default: value_column, else the column named like it
    labels: list[NonEmpty] | None = None  # result columns; default: the check's label_columns
    buckets: list[float] | None = None  # histogram only
    states: list[NonEmpty] | None = None  # enum only, required there
    increment: bool = False  # counter: add each value (else the column is the running total)
    expiration: Duration | None = None  # drop a series not updated for this long

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.name.startswith("planwatch_"):
            raise ValueError("metric names starting with 'planwatch_' are planwatch's own")
        if self.buckets is not None and self.type != "histogram":
            raise ValueError("'buckets' only apply to type 'histogram'")
        if self.buckets is not None and (not self.buckets
                                         or self.buckets != sorted(set(self.buckets))):
            raise ValueError("'buckets' must be unique and ascending")
        if (self.states is not None) != (self.type == "enum"):
            raise ValueError("type 'enum' needs 'states' (and only it takes them)")
        if self.states is not None and len(set(self.states)) != len(self.states):
            raise ValueError("'states' must be unique")
        if self.increment and self.type != "counter":
            raise ValueError("'increment' only applies to type 'counter'")
        if self.labels and len(set(self.labels)) != len(self.labels):
            raise ValueError("'labels' must be unique")
        return self


class CheckModel(_Model):
    name: Name
    kind: Literal["sql", "http"] = "sql"
    sql: NonEmpty | None = None
    target: Name | None = None
    targets: list[Name] | None = None
    tags: list[Tag] | None = None
    result: Literal["scalar", "rowcount", "dataset", "nonquery"] = "scalar"
    operator: Literal["eq", "ne", "gt", "lt", "gte", "lte", "contains"] | None = None
    expected: Any = None
    warning: Threshold | None = None
    critical: Threshold | None = None
    value_column: NonEmpty | None = None
    label_columns: list[NonEmpty] = []
    metrics: list[CheckMetricModel] = []  # result columns published on /metrics
    interval: Duration | None = None
    cron: CronExpr | None = None
    timeout: Duration = timedelta(seconds=30)
    enabled: bool = True
    description: str = ""
    runbook_url: str | None = None
    for_: DurationOrZero | None = Field(default=None, alias="for")  # default: one interval
    resolve_after: PositiveInt | None = None  # consecutive ok runs; default alerting's
    # kind: http (endpoint checks); warning/critical then judge the latency in ms
    url: NonEmpty | None = None
    method: Annotated[HttpMethod, BeforeValidator(upper)] = "GET"
    expected_status: list[Annotated[int, Field(ge=100, le=599)]] = []
    contains: NonEmpty | None = None
    tls_warning_days: PositiveInt | None = None
    tls_critical_days: PositiveInt | None = None
    verify_tls: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        exactly_one_of(self, ("interval", "cron"), required=False)
        if self.kind == "http":
            self._check_http()
            return self
        exactly_one_of(self, ("target", "targets", "tags"), required=True)
        _only_for(self, "http", HTTP_FIELDS)
        if self.sql is None:
            raise ValueError("a SQL check needs 'sql'")
        self._check_judgement()
        if self.result == "dataset" and not self.value_column:
            raise ValueError("result 'dataset' needs 'value_column'")
        if self.result != "dataset" and (self.value_column or self.label_columns):
            raise ValueError("'value_column' and 'label_columns' are only for result 'dataset'")
        if self.result == "nonquery" and self.metrics:
            raise ValueError("'metrics' need result rows; result 'nonquery' has none")
        return self

    def _check_http(self) -> None:
        if self.url is None:
            raise ValueError("kind 'http' needs 'url'")
        if not self.url.lower().startswith(("http://", "https://")):
            raise ValueError("'url' must start with http:// or https://")
        if self.targets or self.tags:
            raise ValueError("kind 'http' takes at most a single 'target' (to label it), "
                             "not 'targets' or 'tags'")
        _only_for(self, "sql", SQL_FIELDS)
        if (self.tls_warning_days or 0) < (self.tls_critical_days or 0):
            raise ValueError("'tls_warning_days' must not be below 'tls_critical_days'")

    def _check_judgement(self) -> None:
        pair = self.operator is not None, self.expected is not None
        thresholds = self.warning is not None or self.critical is not None
        if pair[0] != pair[1]:
            raise ValueError("'operator' and 'expected' go together")
        if pair[0] and thresholds:
            raise ValueError("give either 'operator' + 'expected' or 'warning'/'critical'")
        if not pair[0] and not thresholds and self.result != "nonquery":
            raise ValueError("give 'operator' + 'expected' or a 'warning'/'critical' threshold")
        if isinstance(self.expected, dict | list):
            raise ValueError("'expected' must be a single value")
        numeric = isinstance(self.expected, int | float) and not isinstance(self.expected, bool)
        if self.operator in ORDERED_OPERATORS and not numeric:
            raise ValueError(f"operator '{self.operator}' needs a numeric 'expected'")


GROUP_LABELS = Literal["kind", "target", "database", "severity", "subject", "query_id", "..."]
ALERTMANAGER_PREFIX = "alertmanager+"
_AM_OWN = ("group_by", "group_wait", "group_interval")


class ChannelModel(_Model):
    name: Name
    url: NonEmpty
    min_severity: Literal["warning", "critical"] = "warning"
    kinds: list[ALERT_KINDS] = []
    tags: list[Tag] = []
    # grouping, as Alertmanager's route does it; None: the defaults of alerting/grouping.py
    group_by: list[GROUP_LABELS] | None = None
    group_wait: DurationOrZero | None = None
    group_interval: DurationOrZero | None = None
    repeat_interval: Duration | None = None

    @model_validator(mode="after")
    def _grouping(self) -> Self:
        if self.url.startswith(ALERTMANAGER_PREFIX):
            given = [n for n in _AM_OWN if n in self.model_fields_set]
            if given:
                raise ValueError(f"{', '.join(given)}: Alertmanager groups alerts itself; "
                                 "set grouping in its route, not on this channel")
        if self.group_by and "..." in self.group_by and len(self.group_by) > 1:
            raise ValueError("group_by: '...' (every alert on its own) stands alone")
        return self


class EscalationModel(_Model):
    after: Duration = timedelta(minutes=60)
    channels: list[Name] = []


class SilenceModel(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    matchers: dict[str, str] = Field(min_length=1)
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime | None = None
    comment: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("'ends_at' must be after 'starts_at'")
        return self


class AlertingModel(_Model):
    channels: list[ChannelModel] = []
    repeat_interval: Duration = timedelta(hours=4)
    escalation: EscalationModel = EscalationModel()
    auto_resolve_after: Duration = timedelta(minutes=120)
    silences: list[SilenceModel] = []
    for_: DurationOrZero | None = Field(default=None, alias="for")  # None: per-kind default
    resolve_after: PositiveInt = 2  # consecutive ok runs that resolve a check alert


class RetentionModel(_Model):
    samples: PositiveInt = 30
    samples_hourly: PositiveInt = 365  # hourly roll-ups of expired samples
    check_results: PositiveInt = 30
    job_runs: PositiveInt = 14
    resolved_alerts: PositiveInt = 180
    batch_size: PositiveInt = 5000


class HttpModel(_Model):
    enabled: bool = True
    host: NonEmpty = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    token: OptionalSecret = None
    public_read: bool = False
    public_url: str | None = None  # e.g. https://planwatch.example.com (links in messages)


class LoggingModel(_Model):
    level: Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(lower)] = "info"
    format: Literal["json", "console"] | None = None  # None: console on a TTY, json otherwise


class WorkerModel(_Model):
    name: str = ""
    environment: str = ""


class TelemetryModel(_Model):
    enabled: bool = False
    endpoint: NonEmpty = "http://localhost:4318"  # OTLP/HTTP collector base URL
    service_name: NonEmpty = "planwatch"
    traces: bool = True
    metrics: bool = True
    export_interval: Duration = timedelta(seconds=30)
    headers: dict[NonEmpty, NonEmpty] = {}  # e.g. an API key for a hosted collector


class ConfigModel(_Model):
    storage: StorageModel = StorageModel()
    targets: list[TargetModel] = []
    scheduling: SchedulingModel = SchedulingModel()
    analysis: AnalysisModel = AnalysisModel()
    checks: list[CheckModel] = []
    alerting: AlertingModel = AlertingModel()
    retention: RetentionModel = RetentionModel()
    http: HttpModel = HttpModel()
    logging: LoggingModel = LoggingModel()
    worker: WorkerModel = WorkerModel()
    telemetry: TelemetryModel = TelemetryModel()


# -- schema navigation (for env overrides and "did you mean" hints) ------------------------


def child_type(parent: Any, key: str | int) -> Any:
    """The schema type under `key` of `parent` (a model, list or dict type), or None."""
    parent = _unwrap(parent)
    if isinstance(parent, type) and issubclass(parent, BaseModel):
        fields = {f.alias or n: f for n, f in parent.model_fields.items()}  # `for`, not `for_`
        field = fields.get(key) if isinstance(key, str) else None
        return _unwrap(field.annotation) if field else None
    origin, args = get_origin(parent), get_args(parent)
    if origin is list and isinstance(key, int):
        return _unwrap(args[0])
    if origin is dict and isinstance(key, str):
        return _unwrap(args[1])
    return None


def is_list(tp: Any) -> bool:
    return get_origin(_unwrap(tp)) is list


def field_names(tp: Any) -> list[str]:
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    """Strip `Annotated[...]` and `X | None` down to X."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
            continue
        args = [a for a in get_args(tp) if a is not type(None)]
        if type(None) in get_args(tp) and len(args) == 1:
            tp = args[0]
            continue
        return tp

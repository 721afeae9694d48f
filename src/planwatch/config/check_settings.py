"""The `checks` section: SQL and HTTP checks, the metrics they publish, and their rules.

Some rules depend on which keys the file gives (`buckets: []` is not the same as no
`buckets`), so the validators look at the raw mapping next to the validated check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import InitVar, dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidatorFunctionWrapHandler,
    model_validator,
    with_config,
)

from planwatch.config.fields import (
    ORDERED_OPERATORS,
    SECTION,
    CronExpr,
    Duration,
    DurationOrZero,
    Name,
    NonEmpty,
    PositiveInt,
    Tag,
    Threshold,
    exactly_one_of,
    null_as,
)

CHECK_INTERVAL = timedelta(minutes=1)
"""How often a check without `interval` or `cron` runs."""
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
SQL_FIELDS = ("sql", "result", "operator", "expected", "value_column", "label_columns",
              "metrics")
HTTP_FIELDS = ("url", "method", "expected_status", "contains", "tls_warning_days",
               "tls_critical_days", "verify_tls")
MetricName = Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]


def upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


@with_config(SECTION)
@dataclass(frozen=True, slots=True)
class CheckMetricSettings:
    """A result column a check publishes as a Prometheus metric (query-exporter style)."""

    name: MetricName
    type: Annotated[Literal["gauge", "counter", "histogram", "enum"], Field(default="gauge")]
    # in the file: default the check's value_column, else the column named like the metric
    column: Annotated[NonEmpty, null_as(""), Field(default="")]
    # result columns, after the `target` label; in the file: default the check's label_columns
    labels: Annotated[tuple[NonEmpty, ...], null_as(())] = ()
    description: str = ""
    # histogram; empty: prometheus_client's defaults
    buckets: Annotated[tuple[float, ...], null_as(())] = ()
    states: Annotated[tuple[NonEmpty, ...], null_as(())] = ()  # enum, required there
    increment: bool = False  # counter: add each value instead of setting the total
    expiration: Duration | None = None  # drop a series not updated for this long

    @model_validator(mode="wrap")
    @classmethod
    def _consistent(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> CheckMetricSettings:
        metric: CheckMetricSettings = handler(data)
        if isinstance(data, dict):
            _metric_rules(metric, {k for k, v in data.items() if v is not None})
        return metric


def _metric_rules(m: CheckMetricSettings, given: set[str]) -> None:
    if m.name.startswith("planwatch_"):
        raise ValueError("metric names starting with 'planwatch_' are planwatch's own")
    if "buckets" in given and m.type != "histogram":
        raise ValueError("'buckets' only apply to type 'histogram'")
    if "buckets" in given and (not m.buckets or list(m.buckets) != sorted(set(m.buckets))):
        raise ValueError("'buckets' must be unique and ascending")
    if ("states" in given) != (m.type == "enum"):
        raise ValueError("type 'enum' needs 'states' (and only it takes them)")
    if len(set(m.states)) != len(m.states):
        raise ValueError("'states' must be unique")
    if m.increment and m.type != "counter":
        raise ValueError("'increment' only applies to type 'counter'")
    if len(set(m.labels)) != len(m.labels):
        raise ValueError("'labels' must be unique")


@with_config(SECTION)
@dataclass(frozen=True, slots=True)
class CheckSettings:
    name: Name
    sql: Annotated[NonEmpty, null_as(""), Field(default="")]  # "" for kind http
    targets: Annotated[tuple[Name, ...], null_as(())] = ()  # explicit target names
    tags: Annotated[tuple[Tag, ...], null_as(())] = ()  # select targets carrying any of these
    result: Literal["scalar", "rowcount", "dataset", "nonquery"] = "scalar"
    operator: Literal["eq", "ne", "gt", "lt", "gte", "lte", "contains"] | None = None
    expected: Any = None
    warning: Threshold | None = None  # e.g. "> 1000"
    critical: Threshold | None = None
    value_column: NonEmpty | None = None
    label_columns: tuple[NonEmpty, ...] = ()
    metrics: tuple[CheckMetricSettings, ...] = ()  # result columns published on /metrics
    interval: Duration | None = None  # in the file: without interval or cron, CHECK_INTERVAL
    cron: CronExpr | None = None
    timeout: Duration = timedelta(seconds=30)
    enabled: bool = True
    description: str = ""
    runbook_url: str | None = None
    kind: Literal["sql", "http"] = "sql"
    url: NonEmpty | None = None  # kind http; warning/critical then judge the latency in ms
    method: Annotated[HttpMethod, BeforeValidator(upper)] = "GET"
    expected_status: tuple[Annotated[int, Field(ge=100, le=599)], ...] = ()  # empty: 2xx/3xx
    contains: NonEmpty | None = None  # the response body must contain this
    tls_warning_days: PositiveInt | None = None
    tls_critical_days: PositiveInt | None = None
    verify_tls: bool = True
    # a failure must last this long to alert; None: one interval
    for_: Annotated[DurationOrZero | None, Field(alias="for")] = None
    resolve_after: PositiveInt | None = None  # consecutive ok runs that resolve; None: alerting's
    target: InitVar[Name | None] = None  # the file's shorthand for `targets: [name]`

    def __post_init__(self, target: str | None) -> None:
        if target:
            object.__setattr__(self, "targets", (target,))

    @model_validator(mode="wrap")
    @classmethod
    def _consistent(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> CheckSettings:
        check: CheckSettings = handler(data)
        if not isinstance(data, dict):
            return check
        _check_rules(check, data)
        metrics = zip(check.metrics, data.get("metrics") or (), strict=True)
        return dataclasses.replace(
            check,
            interval=check.interval or (None if check.cron else CHECK_INTERVAL),
            metrics=tuple(_inherit(m, raw, check) for m, raw in metrics),
        )


def _inherit(metric: CheckMetricSettings, raw: Mapping[str, Any],
             check: CheckSettings) -> CheckMetricSettings:
    """The metric with the column and labels it leaves to its check."""
    return dataclasses.replace(
        metric,
        column=metric.column or check.value_column or metric.name,
        labels=check.label_columns if raw.get("labels") is None else metric.labels,
    )


def _check_rules(check: CheckSettings, raw: Mapping[str, Any]) -> None:
    exactly_one_of(raw, ("interval", "cron"), required=False)
    if check.kind == "http":
        _http_rules(check, raw)
        return
    exactly_one_of(raw, ("target", "targets", "tags"), required=True)
    _only_for(raw, "http", HTTP_FIELDS)
    if not check.sql:
        raise ValueError("a SQL check needs 'sql'")
    _judgement_rules(check)
    if check.result == "dataset" and not check.value_column:
        raise ValueError("result 'dataset' needs 'value_column'")
    if check.result != "dataset" and (check.value_column or check.label_columns):
        raise ValueError("'value_column' and 'label_columns' are only for result 'dataset'")
    if check.result == "nonquery" and check.metrics:
        raise ValueError("'metrics' need result rows; result 'nonquery' has none")


def _http_rules(check: CheckSettings, raw: Mapping[str, Any]) -> None:
    if check.url is None:
        raise ValueError("kind 'http' needs 'url'")
    if not check.url.lower().startswith(("http://", "https://")):
        raise ValueError("'url' must start with http:// or https://")
    if raw.get("targets") or raw.get("tags"):
        raise ValueError("kind 'http' takes at most a single 'target' (to label it), "
                         "not 'targets' or 'tags'")
    _only_for(raw, "sql", SQL_FIELDS)
    if (check.tls_warning_days or 0) < (check.tls_critical_days or 0):
        raise ValueError("'tls_warning_days' must not be below 'tls_critical_days'")


def _only_for(raw: Mapping[str, Any], kind: str, names: tuple[str, ...]) -> None:
    given = [n for n in names if n in raw]
    if given:
        listing = ", ".join(f"'{n}'" for n in given)
        raise ValueError(f"{listing} only apply to checks of kind '{kind}'")


def _judgement_rules(check: CheckSettings) -> None:
    pair = check.operator is not None, check.expected is not None
    thresholds = check.warning is not None or check.critical is not None
    if pair[0] != pair[1]:
        raise ValueError("'operator' and 'expected' go together")
    if pair[0] and thresholds:
        raise ValueError("give either 'operator' + 'expected' or 'warning'/'critical'")
    if not pair[0] and not thresholds and check.result != "nonquery":
        raise ValueError("give 'operator' + 'expected' or a 'warning'/'critical' threshold")
    if isinstance(check.expected, dict | list):
        raise ValueError("'expected' must be a single value")
    numeric = isinstance(check.expected, int | float) and not isinstance(check.expected, bool)
    if check.operator in ORDERED_OPERATORS and not numeric:
        raise ValueError(f"operator '{check.operator}' needs a numeric 'expected'")

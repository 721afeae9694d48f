"""Check results published as named Prometheus metrics (`checks[].metrics`), the way
query-exporter publishes query results: each result row updates one series per metric, labelled
`target` plus the chosen result columns; gauges are set, counters set to the column's running
total (or, with `increment`, increased by it), histograms observe, enums take a state. A series
not updated for the metric's `expiration` is dropped, so rows that stopped coming back (or a
target another worker now watches) do not linger.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import structlog
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    StateSetMetricFamily,
)

from planwatch.checks.evaluation import RawResult, ShapeError, column_index, text_of, to_number
from planwatch.checks.plan import Task
from planwatch.config.settings import CheckMetricSettings
from planwatch.histogram import Histogram

log = structlog.stdlib.get_logger(__name__)

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                   10.0)  # prometheus_client's (and query-exporter's) defaults

Key = tuple[str, ...]  # target, then the label columns' values


@dataclass
class _Series:
    seen: float  # monotonic seconds of the last update
    value: float = 0.0  # gauge, counter
    histogram: Histogram | None = None
    state: str = ""  # enum


@dataclass(frozen=True, slots=True)
class _Metric:
    check: str
    spec: CheckMetricSettings


def samples(spec: CheckMetricSettings, raw: RawResult) -> tuple[list[tuple[Key, object]], int]:
    """(label values, raw value) per row, and how many rows had no usable value (NULL, or not
    a number for a numeric type). `ShapeError` when a named column is missing."""
    value_at = column_index(raw.columns, spec.column)
    label_at = [column_index(raw.columns, name) for name in spec.labels]
    out: list[tuple[Key, object]] = []
    skipped = 0
    for row in raw.rows:
        value = row[value_at]
        usable = text_of(value) in spec.states if spec.type == "enum" else (
            to_number(value) is not None)
        if value is None or not usable:
            skipped += 1
            continue
        out.append((tuple(text_of(row[i]) for i in label_at), value))
    return out, skipped


class ExportedMetrics:
    """The series of every check metric; updated by the runner, read at scrape time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()  # the scrape may run on another thread
        self._metrics: dict[str, _Metric] = {}
        self._series: dict[str, dict[Key, _Series]] = {}

    def configure(self, tasks: Iterable[Task]) -> None:
        """Keep the series of metrics whose definition survives, for targets still checked."""
        metrics: dict[str, _Metric] = {}
        wanted: set[tuple[str, str]] = set()
        for task in tasks:
            for spec in task.check.metrics:
                metrics[spec.name] = _Metric(task.check.name, spec)
                wanted.add((spec.name, task.target))
        with self._lock:
            for name in list(self._series):
                if self._metrics.get(name) != metrics.get(name):
                    del self._series[name]
                    continue
                series = self._series[name]
                for key in [k for k in series if (name, k[0]) not in wanted]:
                    del series[key]
            self._metrics = metrics

    def record(self, task: Task, raw: RawResult) -> None:
        """Update the task's metrics from one successful run's rows."""
        now = self._clock()
        for spec in task.check.metrics:
            try:
                rows, skipped = samples(spec, raw)
            except ShapeError as exc:
                log.warning("check.metric_skipped", check=task.name, target=task.target,
                            metric=spec.name, reason=str(exc))
                continue
            if skipped:
                log.warning("check.metric_skipped", check=task.name, target=task.target,
                            metric=spec.name, rows=skipped,
                            reason=f"NULL or not a {'state' if spec.type == 'enum' else 'number'}")
            with self._lock:
                series = self._series.setdefault(spec.name, {})
                for labels, value in rows:
                    _update(spec, series, (task.target, *labels), value, now)

    def families(self) -> Iterator[Metric]:
        """One family per metric, stale series dropped first."""
        now = self._clock()
        with self._lock:
            for name, metric in sorted(self._metrics.items()):
                series = self._series.get(name, {})
                if metric.spec.expiration is not None:
                    limit = metric.spec.expiration.total_seconds()
                    for key in [k for k, s in series.items() if now - s.seen > limit]:
                        del series[key]
                yield _family(metric, series)


def _update(spec: CheckMetricSettings, series: dict[Key, _Series], key: Key, value: object,
            now: float) -> None:
    one = series.get(key)
    if one is None:
        one = series[key] = _Series(now)
    one.seen = now
    if spec.type == "enum":
        one.state = text_of(value)
        return
    number = to_number(value) or 0.0
    if spec.type == "histogram":
        if one.histogram is None:
            one.histogram = Histogram(spec.buckets or DEFAULT_BUCKETS)
        one.histogram.observe(number)
    elif spec.type == "counter" and spec.increment:
        one.value += max(number, 0.0)  # a counter never goes down
    else:
        one.value = number


def _family(metric: _Metric, series: dict[Key, _Series]) -> Metric:
    spec = metric.spec
    doc = spec.description or f"column {spec.column} of check {metric.check}"
    labels = ["target", *(_label(c, spec.name) for c in spec.labels)]
    if spec.type == "histogram":
        hist = HistogramMetricFamily(spec.name, doc, labels=labels)
        for key, s in sorted(series.items()):
            assert s.histogram is not None
            hist.add_metric(list(key), s.histogram.buckets(), s.histogram.total)
        return hist
    if spec.type == "enum":
        states = StateSetMetricFamily(spec.name, doc, labels=labels)
        for key, s in sorted(series.items()):
            states.add_metric(list(key), {state: state == s.state for state in spec.states})
        return states
    cls = CounterMetricFamily if spec.type == "counter" else GaugeMetricFamily
    family = cls(spec.name, doc, labels=labels)
    for key, s in sorted(series.items()):
        family.add_metric(list(key), s.value)
    return family


_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def label_name(column: str) -> str:
    """A valid Prometheus label name for a result column (`check` and `target` are taken)."""
    name = _INVALID.sub("_", column) or "_"
    if name[0].isdigit():
        name = "_" + name
    if name in ("check", "target") or name.startswith("__"):
        name = "label_" + name
    return name


def _label(column: str, metric: str) -> str:
    name = label_name(column)
    return "label_" + name if name == metric else name  # an enum's own label is its name

"""Prometheus series of the check runner, built at scrape time from its live stats.

Dataset rows become series of their own: their label columns are Prometheus labels next to
`check` and `target` (names made valid; a column called `check` or `target` is prefixed).
Status is a number: 0 ok, 1 warning, 2 critical, 3 error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from planwatch.checks.runner import CheckRunner
from planwatch.model.checks import Labels


class CheckMetric(StrEnum):
    VALUE = "planwatch_check_value"
    STATUS = "planwatch_check_status"
    DURATION = "planwatch_check_duration_seconds"
    RUNS = "planwatch_check_runs"
    ERRORS = "planwatch_check_errors"
    SKIPS = "planwatch_check_skips"
    LAG = "planwatch_check_schedule_lag_seconds"


_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def label_name(column: str) -> str:
    """A valid Prometheus label name for a label column."""
    name = _INVALID.sub("_", column) or "_"
    if name[0].isdigit():
        name = "_" + name
    if name in ("check", "target") or name.startswith("__"):
        name = "label_" + name
    return name


def families(runner: CheckRunner) -> Iterator[Metric]:
    value = Metric(CheckMetric.VALUE, "Last value of a check (per dataset row)", "gauge")
    status = Metric(CheckMetric.STATUS,
                    "Last status of a check: 0 ok, 1 warning, 2 critical, 3 error", "gauge")
    keys = ["check", "target"]
    duration = GaugeMetricFamily(CheckMetric.DURATION, "Duration of the last run", labels=keys)
    runs = CounterMetricFamily(CheckMetric.RUNS, "Check runs", labels=keys)
    errors = CounterMetricFamily(CheckMetric.ERRORS, "Runs that ended in error", labels=keys)
    skips = CounterMetricFamily(CheckMetric.SKIPS, "Runs skipped: still running when due",
                                labels=keys)
    for s in runner.stats():
        base = [s.check, s.target]
        runs.add_metric(base, s.runs)
        errors.add_metric(base, s.errors)
        skips.add_metric(base, s.skips)
        if s.last_duration_ms is not None:
            duration.add_metric(base, s.last_duration_ms / 1000.0)
        for labels, (number, state) in s.values.items():
            named = {"check": s.check, "target": s.target, **_named(labels)}
            status.add_sample(CheckMetric.STATUS, named, float(state.rank))
            if number is not None:
                value.add_sample(CheckMetric.VALUE, named, number)
    lag = GaugeMetricFamily(CheckMetric.LAG,
                            "p99 delay between a check's due time and start, last minute")
    lag.add_metric([], runner.schedule_lag(0.99))
    yield from (value, status, duration, runs, errors, skips, lag)


def _named(labels: Labels) -> dict[str, str]:
    return {label_name(k): v for k, v in labels}

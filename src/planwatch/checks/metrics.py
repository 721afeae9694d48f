"""Prometheus series of the check runner, built at scrape time from its live stats.

Dataset rows become series of their own: their label columns are Prometheus labels next to
`check` and `target` (names made valid; a column called `check` or `target` is prefixed).
Status is a number: 0 ok, 1 warning, 2 critical, 3 error. Durations and schedule lag are
histograms, so they add up across workers. The checks' own named metrics (`checks[].metrics`)
come from `exported`.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum

from prometheus_client.core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from planwatch.checks.exported import label_name
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


def families(runner: CheckRunner) -> Iterator[Metric]:
    value = Metric(CheckMetric.VALUE, "Last value of a check (per dataset row)", "gauge")
    status = Metric(CheckMetric.STATUS,
                    "Last status of a check: 0 ok, 1 warning, 2 critical, 3 error", "gauge")
    keys = ["check", "target"]
    duration = HistogramMetricFamily(CheckMetric.DURATION, "Durations of check runs",
                                     labels=keys)
    runs = CounterMetricFamily(CheckMetric.RUNS, "Check runs", labels=keys)
    errors = CounterMetricFamily(CheckMetric.ERRORS, "Runs that ended in error", labels=keys)
    skips = CounterMetricFamily(CheckMetric.SKIPS, "Runs skipped: still running when due",
                                labels=keys)
    for s in runner.stats():
        base = [s.check, s.target]
        runs.add_metric(base, s.runs)
        errors.add_metric(base, s.errors)
        skips.add_metric(base, s.skips)
        duration.add_metric(base, s.durations.buckets(), s.durations.total)
        for labels, (number, state) in s.values.items():
            named = {"check": s.check, "target": s.target, **_named(labels)}
            status.add_sample(CheckMetric.STATUS, named, float(state.rank))
            if number is not None:
                value.add_sample(CheckMetric.VALUE, named, number)
    lag = HistogramMetricFamily(CheckMetric.LAG, "Delays between a check's due time and start")
    lag.add_metric([], runner.lag.buckets(), runner.lag.total)
    yield from (value, status, duration, runs, errors, skips, lag)
    yield from runner.exported.families()


def _named(labels: Labels) -> dict[str, str]:
    return {label_name(k): v for k, v in labels}

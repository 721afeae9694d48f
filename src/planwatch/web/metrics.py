"""Prometheus metrics collected at scrape time from the worker's live state (private registry),
plus prometheus_client's process collector (`process_*`: CPU, memory, open files, start time).

Durations and schedule lag are histograms by job kind: `sum by (le)` over workers is right,
where last values or per-worker quantiles are not. Open alerts are storage-wide (every worker
exports the same counts): aggregate them with `max`, not `sum`.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from planwatch import __version__
from planwatch.checks import metrics as check_metrics
from planwatch.histogram import Histogram
from planwatch.scheduling.breaker import BreakerState
from planwatch.storage import readmodels

if TYPE_CHECKING:
    from planwatch.web.services import WebServices


class Name(StrEnum):
    COLLECTIONS = "planwatch_collections"
    SAMPLES = "planwatch_samples_written"
    PLANS = "planwatch_plans_captured"
    ANALYSES = "planwatch_analyses"
    TARGET_UP = "planwatch_target_up"
    COLLECTION_SECONDS = "planwatch_collection_duration_seconds"
    JOB_RUNS = "planwatch_job_runs"
    JOB_FAILURES = "planwatch_job_failures"
    JOB_CONSECUTIVE_FAILURES = "planwatch_job_consecutive_failures"
    JOB_SKIPPED = "planwatch_job_skipped_overlaps"
    SCHEDULE_LAG = "planwatch_schedule_lag_seconds"
    ALERTS_OPEN = "planwatch_alerts_open"
    STORAGE_UP = "planwatch_storage_up"
    JOB_DURATION = "planwatch_job_duration_seconds"
    JOB_UNHEALTHY = "planwatch_job_unhealthy"
    JOB_RUNNING = "planwatch_job_running"
    CIRCUIT_OPEN = "planwatch_target_circuit_open"
    BUILD_INFO = "planwatch_build_info"
    NOTIFICATIONS = "planwatch_notifications"
    QUERIES_LEARNING = "planwatch_queries_learning"


class StateCollector(Collector):
    def __init__(self, web: WebServices) -> None:
        self.web = web

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(Name.BUILD_INFO, "planwatch version and worker", labels=[
            "version", "worker"])
        info.add_metric([__version__, self.web.instance_id], 1.0)
        yield info
        yield from self._targets()
        yield from self._counters()
        yield from self._jobs()
        yield from self._alerts()
        yield from check_metrics.families(self.web.check_runner)

    def _targets(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(Name.TARGET_UP, "1 if the last collection succeeded",
                               labels=["target"])
        dur = GaugeMetricFamily(Name.COLLECTION_SECONDS, "Last successful collection's duration",
                                labels=["target"])
        fleet = self.web.fleet
        # Only the targets this worker collects now: a lease that moved takes its series along.
        for name, ts in self.web.state.targets.items():
            if fleet is not None and not fleet.owns_target(name):
                continue
            if ts.up is not None:
                up.add_metric([name], 1.0 if ts.up else 0.0)
            if ts.last_success is not None:  # a target never reached has no duration yet
                dur.add_metric([name], ts.last_duration_s)
        breaker = GaugeMetricFamily(Name.CIRCUIT_OPEN, "1 while the target's circuit is open "
                                    "(calls are not attempted)", labels=["target"])
        for name, state in sorted(self.web.breakers.snapshot().items()):
            breaker.add_metric([name], 0.0 if state.state is BreakerState.CLOSED else 1.0)
        learning = GaugeMetricFamily(Name.QUERIES_LEARNING, "Queries active in the last analysis "
                                     "window whose baseline is still learning (not judged yet)",
                                     labels=["target"])
        for name, n in sorted(self.web.state.learning.items()):
            if fleet is None or fleet.owns_target(name):
                learning.add_metric([name], float(n))
        yield up
        yield dur
        yield breaker
        yield learning

    def _counters(self) -> Iterator[Metric]:
        c = self.web.state.counters
        coll = CounterMetricFamily(Name.COLLECTIONS, "Collections by outcome",
                                   labels=["target", "outcome"])
        samples = CounterMetricFamily(Name.SAMPLES, "Samples written", labels=["target"])
        plans = CounterMetricFamily(Name.PLANS, "Plans captured", labels=["target"])
        analyses = CounterMetricFamily(Name.ANALYSES, "Analysis runs")
        sent = CounterMetricFamily(Name.NOTIFICATIONS, "Notification delivery attempts",
                                   labels=["channel", "outcome"])
        for (metric, label), n in sorted(c.items()):
            if metric == "collections":
                target, outcome = label.split("|", 1)
                coll.add_metric([target, outcome], n)
            elif metric == "samples":
                samples.add_metric([label], n)
            elif metric == "plans":
                plans.add_metric([label], n)
            elif metric == "notifications":
                channel, outcome = label.split("|", 1)
                sent.add_metric([channel, outcome], n)
        analyses.add_metric([], c[("analyses", "")])
        yield from (coll, samples, plans, analyses, sent)

    def _jobs(self) -> Iterator[Metric]:
        runs = CounterMetricFamily(Name.JOB_RUNS, "Job runs", labels=["job", "kind"])
        fails = CounterMetricFamily(Name.JOB_FAILURES, "Failed job runs", labels=["job", "kind"])
        consec = GaugeMetricFamily(Name.JOB_CONSECUTIVE_FAILURES, "Consecutive failures",
                                   labels=["job", "kind"])
        skipped = CounterMetricFamily(Name.JOB_SKIPPED, "Ticks skipped because still running",
                                      labels=["job", "kind"])
        unhealthy = GaugeMetricFamily(Name.JOB_UNHEALTHY, "1 while the job is over its failure "
                                      "budget (max_consecutive_failures)", labels=["job", "kind"])
        running = GaugeMetricFamily(Name.JOB_RUNNING, "1 while a run is in flight",
                                    labels=["job", "kind"])
        for js in self.web.jobs.states():
            labels = [js.name, js.kind]
            runs.add_metric(labels, js.runs)
            fails.add_metric(labels, js.failures)
            consec.add_metric(labels, js.consecutive_failures)
            skipped.add_metric(labels, js.skipped_overlaps)
            unhealthy.add_metric(labels, 1.0 if js.unhealthy else 0.0)
            running.add_metric(labels, 1.0 if js.running else 0.0)
        duration = _by_kind(Name.JOB_DURATION, "Durations of finished job runs (completed or "
                            "failed)", self.web.jobs.duration_histograms())
        lag = _by_kind(Name.SCHEDULE_LAG, "Delays between a run's due time and its start",
                       self.web.jobs.lag_histograms())
        yield from (runs, fails, consec, skipped, duration, unhealthy, running, lag)

    def _alerts(self) -> Iterator[Metric]:
        g = GaugeMetricFamily(Name.ALERTS_OPEN, "Active alerts in storage (the same on every "
                              "worker: aggregate with max)", labels=["kind", "severity", "status"])
        storage_up = GaugeMetricFamily(Name.STORAGE_UP, "1 if storage answered at scrape time")
        try:
            counts = readmodels.open_alerts(self.web.storage)
            storage_up.add_metric([], 1.0)
        except Exception:
            counts = {}
            storage_up.add_metric([], 0.0)
        for labels, n in sorted(counts.items()):
            g.add_metric(list(labels), n)
        yield g
        yield storage_up


def _by_kind(name: str, doc: str, histograms: dict[str, Histogram]) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=["kind"])
    for kind, h in sorted(histograms.items()):
        family.add_metric([kind], h.buckets(), h.total)
    return family


def registry_for(web: WebServices) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(web))
    ProcessCollector(registry=registry)  # process_*; reads /proc, so nothing on other systems
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)

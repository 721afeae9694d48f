"""Optional OpenTelemetry export over OTLP/HTTP (the `telemetry` extra).

Every recorded job run becomes a span (`job <kind>`, with its real start and end, status,
target, run id and worker) and feeds two instruments: `planwatch.job.runs` (counter) and
`planwatch.job.duration` (histogram, seconds). Prometheus `/metrics` stays the primary
metrics interface; this is for shops whose pipeline is OpenTelemetry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from planwatch import __version__
from planwatch.config.settings import TelemetrySettings
from planwatch.errors import ConfigError
from planwatch.model.jobs import JobRun, JobStatus
from planwatch.scheduling.runner import JobRecorder

log = structlog.get_logger(__name__)

EXPORT_TIMEOUT_S = 2  # bounds each export, retries included: shutdown stays well under 10 s
MISSING = ("telemetry.enabled is true but OpenTelemetry is not installed: "
           "pip install 'planwatch[telemetry]'")


class Telemetry:
    """Owns the tracer and meter providers; `shutdown` flushes what is still buffered."""

    def __init__(self, settings: TelemetrySettings, worker_id: str) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            raise ConfigError([("telemetry.enabled", MISSING)]) from None
        headers = {k: v.reveal() for k, v in settings.headers}
        resource = Resource.create({
            "service.name": settings.service_name, "service.version": __version__,
            "service.instance.id": worker_id,
        })
        self._tracer_provider: Any = None
        self._meter_provider: Any = None
        self._tracer: Any = None
        if settings.traces:
            self._tracer_provider = TracerProvider(resource=resource)
            self._tracer_provider.add_span_processor(BatchSpanProcessor(
                OTLPSpanExporter(endpoint=f"{settings.endpoint}/v1/traces", headers=headers,
                                 timeout=EXPORT_TIMEOUT_S)))
            self._tracer = self._tracer_provider.get_tracer("planwatch", __version__)
        self._runs: Any = None
        self._duration: Any = None
        if settings.metrics:
            reader = PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{settings.endpoint}/v1/metrics", headers=headers,
                                   timeout=EXPORT_TIMEOUT_S),
                export_interval_millis=settings.export_interval.total_seconds() * 1000,
            )
            self._meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
            meter = self._meter_provider.get_meter("planwatch", __version__)
            self._runs = meter.create_counter("planwatch.job.runs", unit="{run}",
                                              description="job runs by kind and status")
            self._duration = meter.create_histogram("planwatch.job.duration", unit="s",
                                                    description="job run duration")
        log.info("telemetry.enabled", endpoint=settings.endpoint, traces=settings.traces,
                 metrics=settings.metrics)

    def job_finished(self, run: JobRun) -> None:
        attributes = {"job.kind": run.job_type, "job.status": run.status.value}
        if self._runs is not None:
            self._runs.add(1, attributes)
            self._duration.record((run.duration_ms or 0.0) / 1000.0, attributes)
        if self._tracer is None or run.started_at is None:
            return
        from opentelemetry.trace import Status, StatusCode

        span = self._tracer.start_span(f"job {run.job_type}", start_time=_ns(run.started_at))
        span.set_attributes({
            **attributes, "job.name": run.job_name, "planwatch.worker": run.worker_id,
            "planwatch.run_id": run.id or 0, "planwatch.target": run.target or "",
            "job.retry_count": run.retry_count,
        })
        if run.status is JobStatus.FAILED:
            span.set_status(Status(StatusCode.ERROR, run.error or run.message))
        span.end(end_time=_ns(run.completed_at or run.started_at))

    def shutdown(self) -> None:
        for provider in (self._tracer_provider, self._meter_provider):
            if provider is not None:
                provider.shutdown()


class TracingRecorder:
    """A JobRecorder that also exports each finished run (export errors never fail a run)."""

    def __init__(self, inner: JobRecorder, telemetry: Telemetry) -> None:
        self.inner, self.telemetry = inner, telemetry

    def started(self, run: JobRun) -> int:
        return self.inner.started(run)

    def finished(self, run_id: int, run: JobRun) -> None:
        try:
            self.telemetry.job_finished(run)
        except Exception as exc:  # telemetry is best effort; the run's record is not
            log.warning("telemetry.export_failed", error=str(exc))
        self.inner.finished(run_id, run)


def _ns(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000_000)

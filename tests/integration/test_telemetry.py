"""OpenTelemetry export: job runs reach a real OTLP/HTTP receiver as spans and metrics."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from planwatch.app import App
from planwatch.config import loader
from planwatch.errors import ConfigError
from planwatch.storage import job_runs

pytestmark = pytest.mark.integration


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP collector stand-in: stores every POST body by path, answers 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _config(tmp_path: Path, endpoint: str) -> dict[str, object]:
    return {
        "storage": {"url": f"sqlite:///{tmp_path / 'planwatch.db'}"},
        "http": {"enabled": False},
        "telemetry": {"enabled": True, "endpoint": endpoint, "service_name": "pw-test",
                      "export_interval": "60s", "headers": {"x-api-key": "${OTLP_KEY}"}},
    }


async def test_job_runs_are_exported_as_spans_and_metrics(
    tmp_path: Path, receiver: Receiver
) -> None:
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
    settings = loader.load_mapping(_config(tmp_path, endpoint), environ={"OTLP_KEY": "k-123"})
    async with App(settings) as app:
        await app.scheduler.run_once("heartbeat")
        await app.scheduler.run_once("analysis")
        runs = {r.job_name: r.id for r in job_runs.recent(app.storage, limit=10)}
    # leaving the app flushes both providers
    traces = [ExportTraceServiceRequest.FromString(b) for p, _, b in receiver.posts
              if p == "/v1/traces"]
    spans = [s for t in traces for rs in t.resource_spans
             for ss in rs.scope_spans for s in ss.spans]
    attrs = {s.name: {a.key: a.value for a in s.attributes} for s in spans}
    assert set(attrs) == {"job heartbeat", "job analysis"}
    assert attrs["job heartbeat"]["planwatch.run_id"].int_value == runs["heartbeat"]
    assert attrs["job analysis"]["job.status"].string_value == "Completed"
    assert all(s.end_time_unix_nano >= s.start_time_unix_nano > 0 for s in spans)
    resource = {a.key: a.value.string_value
                for a in traces[0].resource_spans[0].resource.attributes}
    assert resource["service.name"] == "pw-test"
    assert resource["service.instance.id"] == app.instance_id

    metrics = [ExportMetricsServiceRequest.FromString(b) for p, _, b in receiver.posts
               if p == "/v1/metrics"]
    points = {m.name: m for r in metrics for rm in r.resource_metrics for sm in rm.scope_metrics
              for m in sm.metrics}
    assert sum(dp.as_int for dp in points["planwatch.job.runs"].sum.data_points) == 2
    assert sum(dp.count for dp in points["planwatch.job.duration"].histogram.data_points) == 2
    assert all(h.get("x-api-key") == "k-123" for _, h, _ in receiver.posts)


async def test_an_unreachable_collector_never_fails_a_job(tmp_path: Path) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9")
    settings = loader.load_mapping(config, environ={"OTLP_KEY": "k"})
    async with App(settings) as app:
        outcome = await app.scheduler.run_once("heartbeat")
        assert outcome.result_status.value == "Healthy"


def test_telemetry_settings_are_validated() -> None:
    with pytest.raises(ConfigError) as info:
        loader.load_mapping({"telemetry": {"enabled": "sometimes", "export_interval": "soon"}},
                            environ={})
    paths = {p for p, _ in info.value.problems}
    assert paths == {"telemetry.enabled", "telemetry.export_interval"}

"""Endpoint checks against real local HTTP and HTTPS servers (self-signed certificate)."""

from __future__ import annotations

import datetime as dt
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from checks_support import MakeRunner, settings
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from planwatch.checks import http as http_checks
from planwatch.checks.evaluation import Judgement
from planwatch.config.settings import CheckSettings
from planwatch.model.checks import CheckStatus

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 503 if self.path == "/down" else 200
        body = b'{"status": "ready"}' if status == 200 else b"maintenance"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None: ...


def _serve(context: ssl.SSLContext | None = None) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if context else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def plain() -> Iterator[str]:
    yield from _serve()


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=10, hours=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    yield from _serve(context)


def _http(name: str, url: str, **kw: Any) -> CheckSettings:
    kw.setdefault("interval", dt.timedelta(seconds=1))
    return CheckSettings(name=name, sql="", kind="http", url=url, **kw)


async def test_status_body_and_latency(plain: str, make_runner: MakeRunner) -> None:
    s = settings("sqlite:///unused.db", "sqlite",
                 _http("ready", f"{plain}/health", contains='"ready"', critical="> 60000"),
                 _http("down", f"{plain}/down", targets=("db",)),
                 _http("wrong-body", f"{plain}/health", contains="green"),
                 _http("slow", f"{plain}/health", warning=">= 0"))
    runner = make_runner(s)
    assert runner.keys == ["ready@127.0.0.1:" + plain.rsplit(":", 1)[1], "down@db",
                           f"wrong-body@127.0.0.1:{plain.rsplit(':', 1)[1]}",
                           f"slow@127.0.0.1:{plain.rsplit(':', 1)[1]}"]
    found = {k.split("@")[0]: (await runner.run_now(k))[0] for k in runner.keys}
    assert found["ready"].status is CheckStatus.OK and found["ready"].value is not None
    assert (found["down"].status, found["down"].message) == (
        CheckStatus.CRITICAL, "HTTP 503, expected 2xx/3xx")
    assert found["wrong-body"].message == "response body lacks 'green'"
    assert found["slow"].status is CheckStatus.WARNING
    assert found["slow"].message.startswith("latency: value ")


async def test_unreachable_endpoint_is_an_error(make_runner: MakeRunner) -> None:
    s = settings("sqlite:///unused.db", "sqlite",
                 _http("gone", "http://user:hunter2@127.0.0.1:9/x"))
    runner = make_runner(s)
    (result,) = await runner.run_now(runner.keys[0])
    assert result.status is CheckStatus.ERROR
    assert result.message.startswith("request failed: ConnectError")
    assert "hunter2" not in result.message


async def test_tls_certificate_expiry(tls: str, make_runner: MakeRunner) -> None:
    s = settings("sqlite:///unused.db", "sqlite",
                 _http("cert", f"{tls}/health", verify_tls=False, tls_warning_days=14,
                       tls_critical_days=3),
                 _http("verified", f"{tls}/health"))
    runner = make_runner(s)
    cert, verified = [(await runner.run_now(k))[0] for k in runner.keys]
    assert cert.status is CheckStatus.WARNING
    assert cert.message.startswith("TLS certificate expires in 10 days")
    assert verified.status is CheckStatus.ERROR and "CERTIFICATE_VERIFY_FAILED" in \
        verified.message


def test_judge_is_pure() -> None:
    check = _http("c", "https://x", expected_status=(200, 204), tls_critical_days=7)
    j = Judgement.of(check)
    ok = http_checks.Response(204, 12.0, None, NOW + dt.timedelta(days=30))
    assert http_checks.judge(check, j, ok, NOW).message == (
        "HTTP 204 in 12 ms; certificate valid for 30 more days")
    bad = http_checks.Response(500, 12.0, None, NOW - dt.timedelta(days=1))
    e = http_checks.judge(check, j, bad, NOW)
    assert (e.status, e.message) == (
        CheckStatus.CRITICAL,
        "HTTP 500, expected 200, 204; TLS certificate expired on 2026-03-01")

"""Endpoint checks (`kind: http`): status, body, latency and TLS certificate expiry.

`judge` is pure (tested with literal values); `HttpProbe` does the request with one shared
httpx client per TLS-verification mode, so connections to an endpoint are reused between
runs. The judged value is the latency in ms, so `warning`/`critical` thresholds read as
latency limits (`critical: "> 2000"`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from cryptography import x509

from planwatch import redaction
from planwatch.checks.evaluation import Judgement, error
from planwatch.config.settings import CheckSettings
from planwatch.model.checks import CheckStatus, Evaluation

MAX_BODY = 1_000_000  # bytes of the body searched for `contains`


@dataclass(frozen=True, slots=True)
class Response:
    """What one request saw."""

    status_code: int
    latency_ms: float
    body: str | None = None  # read only when the check has `contains`
    cert_expires: datetime | None = None  # https only


def judge(check: CheckSettings, judgement: Judgement, r: Response, now: datetime) -> Evaluation:
    """The worst of: status code, body match, latency thresholds, certificate expiry."""
    findings: list[tuple[CheckStatus, str]] = []
    allowed = check.expected_status
    if (r.status_code not in allowed) if allowed else not 200 <= r.status_code < 400:
        wanted = ", ".join(map(str, allowed)) if allowed else "2xx/3xx"
        findings.append((CheckStatus.CRITICAL, f"HTTP {r.status_code}, expected {wanted}"))
    if check.contains is not None and check.contains not in (r.body or ""):
        findings.append((CheckStatus.CRITICAL, f"response body lacks {check.contains!r}"))
    latency = judgement.judge(round(r.latency_ms, 1))
    if latency[0] is not CheckStatus.OK:
        findings.append((latency[0], f"latency: {latency[1]}"))
    findings += _certificate(check, r.cert_expires, now)
    if not findings:
        detail = ""
        if r.cert_expires is not None:
            detail = f"; certificate valid for {(r.cert_expires - now).days} more days"
        message = f"HTTP {r.status_code} in {r.latency_ms:.0f} ms{detail}"
        return Evaluation(CheckStatus.OK, message, round(r.latency_ms, 3))
    status = max((s for s, _ in findings), key=lambda s: s.rank)
    return Evaluation(status, "; ".join(m for _, m in findings), round(r.latency_ms, 3))


def _certificate(
    check: CheckSettings, expires: datetime | None, now: datetime
) -> list[tuple[CheckStatus, str]]:
    if expires is None:
        return []
    days = (expires - now).total_seconds() / 86400
    if days <= 0:
        return [(CheckStatus.CRITICAL, f"TLS certificate expired on {expires:%Y-%m-%d}")]
    for status, limit in ((CheckStatus.CRITICAL, check.tls_critical_days),
                          (CheckStatus.WARNING, check.tls_warning_days)):
        if limit is not None and days <= limit:
            return [(status, f"TLS certificate expires in {days:.0f} days ({expires:%Y-%m-%d})")]
    return []


class HttpProbe:
    """Runs endpoint checks; one client (connection pool) per TLS-verification mode."""

    def __init__(self) -> None:
        self._clients: dict[bool, httpx.AsyncClient] = {}

    async def run(self, check: CheckSettings, judgement: Judgement, now: datetime) -> Evaluation:
        assert check.url is not None
        timeout = check.timeout.total_seconds()
        started = time.perf_counter()
        try:
            response = await self._request(check, timeout, started)
        except httpx.TimeoutException:
            return error(f"timed out after {timeout:g}s")
        except httpx.HTTPError as exc:
            return error(redaction.redact(f"request failed: {type(exc).__name__}: {exc}"))
        return judge(check, judgement, response, now)

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def _request(self, check: CheckSettings, limit_s: float, started: float) -> Response:
        client = self._client(check.verify_tls)
        assert check.url is not None
        async with client.stream(check.method, check.url, timeout=limit_s) as resp:
            expires = _cert_expiry(resp)
            body = None
            if check.contains is not None:
                chunks = []
                async for chunk in resp.aiter_bytes():
                    chunks.append(chunk)
                    if sum(map(len, chunks)) >= MAX_BODY:
                        break
                body = b"".join(chunks).decode(resp.encoding or "utf-8", "replace")
            latency = (time.perf_counter() - started) * 1000
        return Response(resp.status_code, latency, body, expires)

    def _client(self, verify: bool) -> httpx.AsyncClient:
        client = self._clients.get(verify)
        if client is None:
            headers = {"User-Agent": "planwatch-checks"}
            client = self._clients[verify] = httpx.AsyncClient(verify=verify, headers=headers)
        return client


def _cert_expiry(resp: httpx.Response) -> datetime | None:
    """The server certificate's notAfter, read from the TLS connection of the response."""
    stream: Any = resp.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return None
    return x509.load_der_x509_certificate(der).not_valid_after_utc

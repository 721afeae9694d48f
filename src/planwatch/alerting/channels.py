"""Notification channels: apprise URLs (Slack, Teams, email, PagerDuty, ...), a JSON webhook
and Alertmanager (alerting/alertmanager.py).

`send` is blocking (run it in the worker's thread pool) and raises `DeliveryError` with a
message that never contains the channel's URL, which usually carries a token. JSON channels
send the message's idempotency key as the `Idempotency-Key` header too.
"""

from __future__ import annotations

import re
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from planwatch import redaction
from planwatch.config.settings import ChannelSettings
from planwatch.errors import PlanwatchError

WEBHOOK_PREFIX = "webhook+"
TIMEOUT_S = 10.0
_ANY_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_apprise_lock = threading.Lock()
_apprise_loaded = False
_client_lock = threading.Lock()
_client: httpx.Client | None = None


class DeliveryError(PlanwatchError):
    """The channel did not accept the message."""


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    text: str
    payload: dict[str, Any]  # the JSON document webhooks receive
    html: str | None = None  # richer body for channels that render HTML (email)
    key: str = ""  # the idempotency key (also in `payload`)


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> None: ...


def create(settings: ChannelSettings) -> Channel:
    from planwatch.alerting.alertmanager import AlertmanagerChannel  # it builds on this module
    from planwatch.alerting.grouping import ALERTMANAGER_PREFIX

    url = settings.url.reveal()
    if url.startswith(WEBHOOK_PREFIX):
        return WebhookChannel(settings.name, url[len(WEBHOOK_PREFIX):])
    if url.startswith(ALERTMANAGER_PREFIX):
        return AlertmanagerChannel(settings.name, url)
    return AppriseChannel(settings.name, url)


def post_json(url: str, document: Any, *, key: str, timeout: float) -> None:
    """POST `document`; any 2xx answer is success, anything else a `DeliveryError`."""
    headers = {"User-Agent": "planwatch"}
    if key:
        headers["Idempotency-Key"] = key
    try:
        response = _http().post(url, json=document, timeout=timeout, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(_scrub(f"{type(exc).__name__}: {exc}", url)) from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"HTTP {response.status_code} {response.reason_phrase}".strip())


class WebhookChannel:
    """POSTs the message's JSON payload; any 2xx answer is success."""

    def __init__(self, name: str, url: str, *, timeout: float = TIMEOUT_S) -> None:
        self.name = name
        self._url = url
        self._timeout = timeout

    def send(self, message: Message) -> None:
        post_json(self._url, message.payload, key=message.key, timeout=self._timeout)


class AppriseChannel:
    """Any apprise URL; apprise reports failure as False plus log lines, captured here."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self._url = url

    def send(self, message: Message) -> None:
        apprise = _apprise()
        sender = apprise.Apprise()
        if not sender.add(self._url):
            raise DeliveryError("apprise does not understand the channel URL")
        html = message.html is not None
        with apprise.LogCapture(level=apprise.logging.WARNING, fmt="%(message)s") as captured:
            ok = sender.notify(
                body=message.html if html else message.text, title=message.title,
                body_format=apprise.NotifyFormat.HTML if html else apprise.NotifyFormat.TEXT,
            )
            output = captured.getvalue()
        if not ok:
            lines = [" ".join(line.split()) for line in output.splitlines() if line.strip()]
            reason = _scrub("; ".join(lines), self._url)[-500:] or "apprise reported a failure"
            raise DeliveryError(reason)


def _http() -> httpx.Client:
    """One connection pool for the JSON channels of the process (thread-safe): a client per
    post would cost ~20 ms each, mostly building its TLS context."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client()
        return _client


def _apprise() -> Any:
    """apprise, with its plugins loaded once (one of them imports the deprecated imghdr)."""
    global _apprise_loaded
    import apprise

    with _apprise_lock:
        if not _apprise_loaded:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                from apprise.manager_plugins import NotificationManager

                NotificationManager().load_modules()  # type: ignore[no-untyped-call]
            _apprise_loaded = True
    return apprise


def _scrub(text: str, url: str) -> str:
    """Drop the channel URL and any other URL (they may hold tokens) from an error text."""
    return redaction.redact(_ANY_URL.sub("<url>", text.replace(url, "<channel url>")))

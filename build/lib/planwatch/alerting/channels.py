"""Notification channels: apprise URLs (Slack, Teams, email, PagerDuty, ...) and a JSON webhook.

`send` is blocking (run it in the worker's thread pool) and raises `DeliveryError` with a
message that never contains the channel's URL, which usually carries a token.
"""

from __future__ import annotations

import re
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from planwatch import logs
from planwatch.config.settings import ChannelSettings
from planwatch.errors import PlanwatchError

WEBHOOK_PREFIX = "webhook+"
TIMEOUT_S = 10.0
_ANY_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_apprise_lock = threading.Lock()
_apprise_loaded = False


class DeliveryError(PlanwatchError):
    """The channel did not accept the message."""


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    text: str
    payload: dict[str, Any]  # the JSON document webhooks receive
    html: str | None = None  # richer body for channels that render HTML (email)


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> None: ...


def create(settings: ChannelSettings) -> Channel:
    url = settings.url.reveal()
    if url.startswith(WEBHOOK_PREFIX):
        return WebhookChannel(settings.name, url[len(WEBHOOK_PREFIX):])
    return AppriseChannel(settings.name, url)


class WebhookChannel:
    """POSTs the message's JSON payload; any 2xx answer is success."""

    def __init__(self, name: str, url: str, *, timeout: float = TIMEOUT_S) -> None:
        self.name = name
        self._url = url
        self._timeout = timeout

    def send(self, message: Message) -> None:
        try:
            response = httpx.post(
                self._url, json=message.payload, timeout=self._timeout,
                headers={"User-Agent": "planwatch"},
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(_scrub(f"{type(exc).__name__}: {exc}", self._url)) from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"HTTP {response.status_code} {response.reason_phrase}".strip())


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
            reason = "; ".join(lines)[-500:] or "apprise reported a failure"
            raise DeliveryError(_scrub(reason, self._url))


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
    return logs.mask(_ANY_URL.sub("<url>", text.replace(url, "<channel url>")))

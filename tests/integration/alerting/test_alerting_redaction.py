"""Channel URLs carry tokens and passwords: delivered or refused, real webhook and SMTP receivers
behind them, neither the error text nor the log (at debug) shows them."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from receivers import SmtpReceiver, WebhookReceiver

from log_capture import captured_log
from planwatch.alerting import channels
from planwatch.alerting.channels import DeliveryError, Message
from planwatch.config.settings import ChannelSettings, Secret

pytestmark = pytest.mark.integration

TOKEN = "T0k3nInThePathXq9"
PASSWORD = "Sm7pPa55wQrd"
MESSAGE = Message(title="t", text="x", payload={"a": 1}, key="k1")


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """Everything planwatch and the libraries it drives log, at debug, as JSON lines."""
    with captured_log() as out:
        yield out


def send(url: str) -> str:
    """The error text of sending through the channel ('' when it was delivered)."""
    try:
        channels.create(ChannelSettings("c", Secret(url))).send(MESSAGE)
    except DeliveryError as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize("scheme", ["webhook+http", "json"])
def test_tokens_in_the_path_stay_out_of_the_log(
    webhook: WebhookReceiver, logged: io.StringIO, scheme: str
) -> None:
    url = f"{scheme}://127.0.0.1:{webhook.port}/hook/{TOKEN}?token={TOKEN}"
    assert send(url) == ""
    webhook.status = 500
    assert TOKEN not in send(url)
    assert webhook.hits == 2
    assert TOKEN not in logged.getvalue()


def test_credentials_of_a_refusing_server_stay_out(
    webhook: WebhookReceiver, smtp: SmtpReceiver, logged: io.StringIO
) -> None:
    webhook.status = 401
    errors = [
        send(f"json://alerts:{PASSWORD}@127.0.0.1:{webhook.port}/hook"),
        # aiosmtpd offers no AUTH on a plain connection: the login is refused
        send(f"mailto://alerts:{PASSWORD}@127.0.0.1:{smtp.port}"
             "?from=planwatch@example.com&to=dba@example.com&mode=insecure"),
    ]
    assert all(errors), errors  # both refused
    assert smtp.messages == []
    assert not any(PASSWORD in text for text in [*errors, logged.getvalue()])

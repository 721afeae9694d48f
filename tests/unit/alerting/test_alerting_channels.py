"""Channel construction and error texts that never carry the channel's URL."""

from __future__ import annotations

from planwatch.alerting import channels
from planwatch.config.settings import ChannelSettings, Secret


def test_create_picks_the_webhook_or_apprise() -> None:
    hook = channels.create(ChannelSettings("h", Secret("webhook+https://x.example/hook?t=1")))
    assert isinstance(hook, channels.WebhookChannel) and hook.name == "h"
    slack = channels.create(ChannelSettings("s", Secret("slack://T000/B000/XXXX")))
    assert isinstance(slack, channels.AppriseChannel)


def test_error_texts_drop_urls_and_passwords() -> None:
    text = channels._scrub(
        "POST https://hooks.slack.com/services/T/B/SECRET failed; smtp mailtos://u:pw@h; "
        "slack://T000/B000/XXXX", "slack://T000/B000/XXXX")
    assert "SECRET" not in text and "pw" not in text and "XXXX" not in text
    assert text.count("<url>") == 2 and "<channel url>" in text

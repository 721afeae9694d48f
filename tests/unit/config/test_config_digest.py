from __future__ import annotations

from collections.abc import Callable

from planwatch.config import convert, loader
from planwatch.config.settings import Settings

LoadText = Callable[..., Settings]

CONFIG = """
storage:
  url: ${STORE}
targets:
  - name: db
    dsn: postgresql://app:${PW}@db/app
alerting:
  channels: [{name: ops, url: "${HOOK}"}]
http:
  token: ${TOKEN}
"""
ENV = {"STORE": "sqlite:///a.db", "PW": "pw-one", "HOOK": "json://a", "TOKEN": "tok-1"}


def test_digest_is_stable(load_text: LoadText) -> None:
    first = load_text(CONFIG, **ENV)
    assert first.digest == load_text(CONFIG, **ENV).digest
    assert first.digest == convert.digest(first)
    assert len(first.digest) == 64 and int(first.digest, 16) >= 0


def test_digest_ignores_secret_values(load_text: LoadText) -> None:
    rotated = {"STORE": "sqlite:///b.db", "PW": "two", "HOOK": "json://b", "TOKEN": "t2"}
    assert load_text(CONFIG, **ENV).digest == load_text(CONFIG, **rotated).digest


def test_digest_follows_other_values(load_text: LoadText) -> None:
    base = load_text(CONFIG, **ENV).digest
    assert load_text(CONFIG, PLANWATCH_HTTP__PORT="9000", **ENV).digest != base
    assert load_text(CONFIG, PLANWATCH_TARGETS__0__TAGS="[x]", **ENV).digest != base


def test_digest_of_defaults_equals_explicit_defaults(load_text: LoadText) -> None:
    explicit = load_text("http: {port: 8080}\nscheduling: {collection: {interval: 5m}}\n")
    assert explicit.digest == loader.load_mapping({}, environ={}).digest


def test_no_secret_in_settings_repr(load_text: LoadText) -> None:
    shown = repr(load_text(CONFIG, **ENV))
    for secret in ENV.values():
        assert secret not in shown

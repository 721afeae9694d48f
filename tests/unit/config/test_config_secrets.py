from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from planwatch.config import secrets
from planwatch.config.settings import Settings
from planwatch.errors import ConfigError, SecretError

LoadText = Callable[..., Settings]

PLAINTEXT = "correct horse battery staple"


@pytest.fixture(scope="module")
def key() -> str:
    return secrets.generate_key()


def test_round_trip(key: str) -> None:
    token = secrets.encrypt(PLAINTEXT, key)
    assert token.startswith("enc:gAAAAA")
    assert PLAINTEXT not in token
    assert secrets.decrypt(token, key) == PLAINTEXT
    assert secrets.decrypt(token, key.encode()) == PLAINTEXT


def test_wrong_key_reveals_nothing(key: str) -> None:
    token = secrets.encrypt(PLAINTEXT, key)
    with pytest.raises(SecretError) as caught:
        secrets.decrypt(token, secrets.generate_key())
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    for leak in (PLAINTEXT, token, token.removeprefix("enc:"), key):
        assert leak not in str(caught.value)


def test_key_rotation_with_several_keys(key: str) -> None:
    new = secrets.generate_key()
    old_token = secrets.encrypt(PLAINTEXT, key)
    assert secrets.decrypt(old_token, f"{new},{key}") == PLAINTEXT


@pytest.mark.parametrize("bad", ["enc:", "enc:not-a-token", "enc:gAAAAABbroken"])
def test_damaged_tokens(key: str, bad: str) -> None:
    with pytest.raises(SecretError, match="wrong key or damaged token"):
        secrets.decrypt(bad, key)


def test_load_key(tmp_path: Path, key: str) -> None:
    assert secrets.load_key({}) is None
    assert secrets.load_key({"PLANWATCH_SECRET_KEY": key}) == key.encode()
    path = tmp_path / "key"
    path.write_text(key + "\n")
    assert secrets.load_key({"PLANWATCH_SECRET_KEY_FILE": str(path)}) == key.encode()


def test_load_key_problems(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="cannot read secret key file"):
        secrets.load_key({"PLANWATCH_SECRET_KEY_FILE": str(tmp_path / "missing")})
    with pytest.raises(SecretError, match="PLANWATCH_SECRET_KEY is not a valid Fernet key") as c:
        secrets.load_key({"PLANWATCH_SECRET_KEY": "too-short-key"})
    assert "too-short-key" not in str(c.value)


# -- enc: values in the config ------------------------------------------------------------


def test_config_decrypts_enc_values(load_text: LoadText, key: str) -> None:
    password = secrets.encrypt("pa55", key)
    settings = load_text(
        f"""
        targets:
          - name: whole
            dsn: {secrets.encrypt("postgresql://app:pa55@db/app", key)}
          - name: embedded
            dsn: postgresql://app:{password}@db/app
        http:
          token: {secrets.encrypt("api-token", key)}
        """,
        PLANWATCH_SECRET_KEY=key,
    )
    assert settings.target("whole").dsn.reveal() == "postgresql://app:pa55@db/app"
    assert settings.target("embedded").dsn.reveal() == "postgresql://app:pa55@db/app"
    assert settings.http.token is not None and settings.http.token.reveal() == "api-token"


def test_config_key_from_file(load_text: LoadText, key: str, tmp_path: Path) -> None:
    (tmp_path / "key").write_text(key)
    settings = load_text(
        f"http: {{token: '{secrets.encrypt('t0k', key)}'}}\n",
        PLANWATCH_SECRET_KEY_FILE=str(tmp_path / "key"),
    )
    assert settings.http.token is not None and settings.http.token.reveal() == "t0k"


def test_config_enc_value_with_wrong_or_missing_key(load_text: LoadText, key: str) -> None:
    token = secrets.encrypt(PLAINTEXT, key)
    text = f"targets:\n  - name: db\n    engine: postgresql\n    dsn: {token}\n"
    for env in ({"PLANWATCH_SECRET_KEY": secrets.generate_key()}, {}):
        with pytest.raises(ConfigError) as caught:
            load_text(text, **env)
        ((where, message),) = caught.value.problems
        assert where == "targets[0].dsn"
        shown = str(caught.value) + repr(caught.value.problems)
        assert PLAINTEXT not in shown
        assert token.removeprefix("enc:")[:20] not in shown
    assert "no key is set" in message


# -- masking (every syntax: tests/unit/test_redaction.py) -----------------------------------


def test_safe_dsn_on_target_settings(load_text: LoadText) -> None:
    settings = load_text("targets: [{name: db, dsn: 'postgresql://u:hunter2@h/db'}]\n")
    target = settings.target("db")
    assert target.safe_dsn == "postgresql://u:***@h/db"
    assert "hunter2" not in repr(settings)

"""Secrets in the config: `enc:<fernet token>` values (masking is `planwatch.redaction`'s).

Errors raised here never contain the token, the key or any plaintext: they may end up in
logs, exceptions shown to users or API responses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from planwatch.errors import SecretError

PREFIX = "enc:"
KEY_ENV = "PLANWATCH_SECRET_KEY"
KEY_FILE_ENV = "PLANWATCH_SECRET_KEY_FILE"

# A whole `enc:` value, or one embedded in a larger string such as a DSN's password.
# Every Fernet token starts with version byte 0x80 and a zero-led timestamp: "gAAAAA".
EMBEDDED_TOKEN = re.compile(r"enc:(gAAAAA[A-Za-z0-9_\-]+=*)")


def generate_key() -> str:
    """A new random key, to be kept in PLANWATCH_SECRET_KEY or a key file."""
    return Fernet.generate_key().decode("ascii")


def encrypt(plaintext: str, key: str | bytes) -> str:
    """`enc:<token>` for `plaintext`; with several comma-separated keys, the first encrypts."""
    token = _fernet(key).encrypt(plaintext.encode("utf-8"))
    return PREFIX + token.decode("ascii")


def decrypt(value: str, key: str | bytes) -> str:
    """The plaintext of an `enc:<token>` (or bare token); `SecretError` if it cannot be read."""
    token = value.removeprefix(PREFIX).strip()
    fernet = _fernet(key)
    try:
        return fernet.decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError):
        raise SecretError("cannot decrypt an enc: value: wrong key or damaged token") from None


def load_key(environ: Mapping[str, str]) -> bytes | None:
    """The key from PLANWATCH_SECRET_KEY or the file named by PLANWATCH_SECRET_KEY_FILE.

    Returns None when neither is set; raises `SecretError` when the file cannot be read or
    the key is malformed (the message names the variable, never the key).
    """
    if environ.get(KEY_ENV):
        key, origin = environ[KEY_ENV].strip().encode("ascii", "replace"), KEY_ENV
    elif environ.get(KEY_FILE_ENV):
        path = Path(environ[KEY_FILE_ENV]).expanduser()
        try:
            key, origin = path.read_bytes().strip(), f"{KEY_FILE_ENV} ({path})"
        except OSError as exc:
            raise SecretError(f"cannot read secret key file {path}: {exc.strerror}") from None
    else:
        return None
    _fernet(key, origin=origin)
    return key


def _fernet(key: str | bytes, *, origin: str = "the secret key") -> MultiFernet:
    raw = key.encode("ascii", "replace") if isinstance(key, str) else key
    try:
        return MultiFernet([Fernet(k.strip()) for k in raw.split(b",") if k.strip()])
    except (ValueError, TypeError):
        raise SecretError(
            f"{origin} is not a valid Fernet key (expected 32 url-safe base64-encoded bytes)"
        ) from None


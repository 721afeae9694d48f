"""The one redaction of secrets in text, for every place one can surface: DSNs shown to users,
driver error messages, exception texts, log lines and notification errors.

`redact(text, *known)` replaces with `MASK`:
- the password of URL userinfo, any scheme: `postgresql://u:***@h/db`, `mysql+pymysql://`,
  `mariadb://`, `mssql://`, SQLAlchemy URLs, apprise URLs (`mailtos://u:***@host`);
- secret URL query parameters: `?password=***`, `&sslpassword=`, `&token=`, `&api_key=`;
- `name=value` and `name: value` pairs whose name says password, pwd, token, secret,
  credential, authorization, cookie or api/access/private key, the value bare, quoted (`'…'`,
  `"…"`, with backslash escapes) or ODBC-braced (`{…}`): libpq `password=` / `sslpassword=`,
  SQL Server / ODBC `Password=` / `PWD=`, MySQL `--password=`, dict and JSON reprs
  (`'password': '…'`), `Authorization: Bearer …`, also one pair inside another's value;
- each `known` secret (what the caller connected with), as is and URL-encoded, wherever it
  appears: a driver may echo it back in any syntax.

It errs towards masking too much. Hand-written: no library knows every engine's syntax
(SQLAlchemy's `hide_password` masks only its own URL objects).
"""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus

MASK = "***"

# Names of secrets: passwords, tokens, secrets, credentials, auth headers, API keys. A field
# (`is_secret_key`) is also withheld when named dsn, key or pass; in running text those words
# say too little ("invalid DSN: expected ...", "not KEY=VALUE") to mask what follows them.
_SECRET_NAME = (
    r"[\w-]*?(?:pass(?:word|wd)|pwd|token|secret|credential|authorization|cookie)[\w-]*"
    r"|(?:[\w-]*[_-])?(?:api[_-]?|private[_-]|access[_-]|fernet[_-])key"
)
_FIELD = re.compile(rf"{_SECRET_NAME}|[\w-]*dsn[\w-]*|pass|key", re.IGNORECASE)
_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@]*:)\S*@")
_QUERY = re.compile(rf"([?&](?:{_SECRET_NAME})=)[^&#\s]*", re.IGNORECASE)
# Zero-width, so that every pair is found, also one inside another's value (a password in a
# quoted DSN): the value spans are merged before masking.
_PAIR = re.compile(
    rf"(?<![\w?&/-])(?=(?:{_SECRET_NAME})[\"']?\s*[=:]"
    r"(?!\s*(?:YES|NO)\))\s*"  # MySQL's "(using password: YES)" tells nothing secret
    rf"(?P<value>{re.escape(MASK)}(?=[\s;,}}\]]|$)"  # already masked: leave its delimiter
    r"|'(?:\\.|[^'\\])*'?|\"(?:\\.|[^\"\\])*\"?|\{(?:\}\}|[^}])*\}?"  # quoted, {ODBC}
    r"|(?:(?:Bearer|Basic|Digest|Token)\s+)?[^\s;]*))",
    re.IGNORECASE,
)


def redact(text: str, *known: str | None) -> str:
    """`text` with every password, token and `known` secret replaced by `MASK`."""
    text = _USERINFO.sub(rf"\g<1>{MASK}@", text)
    text = _QUERY.sub(rf"\g<1>{MASK}", text)
    text = _mask_spans(text, [m.span("value") for m in _PAIR.finditer(text)])
    for secret in known:
        if secret:
            for form in sorted({secret, quote(secret, safe=""), quote_plus(secret)}, key=len,
                               reverse=True):
                text = text.replace(form, MASK)
    return text


def _mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each run of overlapping or adjacent spans replaced by one `MASK`."""
    out: list[str] = []
    done = 0
    for start, end in sorted(spans):
        if start > done or not out:
            out += [text[done:start], MASK]
        done = max(done, end)
    return "".join([*out, text[done:]])


def is_secret_key(name: str) -> bool:
    """Whether a field name says it holds a secret (`dsn`, `api_key`, `token`; not
    `dedup_key`): its whole value is withheld, not just redacted."""
    return _FIELD.fullmatch(name) is not None

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

import functools
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
_NAME = re.compile(_SECRET_NAME, re.IGNORECASE)
_HINTS = ("pass", "pwd", "token", "secret", "credential", "authoriz", "cookie", "key")
_USERINFO = re.compile(r"(://[^\s:/?#@]*+:)\S*@")  # a literal start: re finds it fast
_QUERY = re.compile(rf"([?&](?:{_SECRET_NAME})=)[^&#\s]*", re.IGNORECASE)
# A name and its separator, matched where a secret word occurs (scanning every position would
# cost ~100 µs per KB of log); the value is matched after it, so that a pair inside another's
# value (a password in a quoted DSN) is found too; the value spans are merged.
_PAIR = re.compile(
    r"(?<![\w?&/-])([\w-]++)[\"']?\s*[=:]"
    r"(?!\s*(?:YES|NO)\))\s*"  # MySQL's "(using password: YES)" tells nothing secret
)
_VALUE = re.compile(
    rf"{re.escape(MASK)}(?=[\s;,}}\]]|$)"  # already masked: leave its delimiter alone
    r"|'(?:\\.|[^'\\])*'?|\"(?:\\.|[^\"\\])*\"?|\{(?:\}\}|[^}])*\}?"  # quoted, {ODBC}
    r"|(?:(?:Bearer|Basic|Digest|Token)\s+)?[^\s;]*",
    re.IGNORECASE,
)


def redact(text: str, *known: str | None) -> str:
    """`text` with every password, token and `known` secret replaced by `MASK`."""
    text = _USERINFO.sub(rf"\g<1>{MASK}@", text)
    if any(hint in text.lower() for hint in _HINTS):  # most lines name no secret
        text = _QUERY.sub(rf"\g<1>{MASK}", text)
        text = _mask_spans(text, _pair_values(text))
    for secret in known:
        if secret:
            for form in sorted({secret, quote(secret, safe=""), quote_plus(secret)}, key=len,
                               reverse=True):
                text = text.replace(form, MASK)
    return text


def _pair_values(text: str) -> list[tuple[int, int]]:
    """Where the values of secret `name=value` / `name: value` pairs are."""
    lowered, starts = text.lower(), set()
    for hint in _HINTS:
        at = lowered.find(hint)
        while at >= 0:
            starts.add(_word_start(text, at))
            at = lowered.find(hint, at + len(hint))
    spans = []
    for start in sorted(starts):
        pair = _PAIR.match(text, start)
        if pair is not None and _NAME.fullmatch(pair.group(1)):
            value = _VALUE.match(text, pair.end())
            assert value is not None  # its last alternative matches the empty string
            spans.append(value.span())
    return spans


def _word_start(text: str, at: int) -> int:
    while at > 0 and (text[at - 1].isalnum() or text[at - 1] in "_-"):
        at -= 1
    return at


def _mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each run of overlapping or adjacent spans replaced by one `MASK`."""
    out: list[str] = []
    done = 0
    for start, end in sorted(spans):
        if start > done or not out:
            out += [text[done:start], MASK]
        done = max(done, end)
    return "".join([*out, text[done:]])


@functools.lru_cache(maxsize=4096)
def is_secret_key(name: str) -> bool:
    """Whether a field name says it holds a secret (`dsn`, `api_key`, `token`; not
    `dedup_key`): its whole value is withheld, not just redacted."""
    return _FIELD.fullmatch(name) is not None

"""Who may read and who may write: loopback / public_read for reads, the token for writes.

Writes need the configured `http.token`, either in a header (`Authorization: Bearer …` or
`X-Planwatch-Token`) or through a session cookie set by the login form. Cookie-authenticated
writes also need a CSRF token bound to the session (forms carry it as a hidden field, scripts
as `X-CSRF-Token`) and, when the browser sends one, a same-origin `Origin`. The cookie is
`HttpOnly`, `SameSite=Strict` and signed with a key derived from the token, so changing the
token logs everybody out. Without a token configured, nothing can be written over HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "planwatch_session"
SESSION_SECONDS = 12 * 3600
_HEADER = "x-planwatch-token"


@dataclass(frozen=True, slots=True)
class Policy:
    token: str | None
    public_read: bool

    @property
    def key(self) -> bytes:
        token = self.token or ""
        return hashlib.sha256(b"planwatch-session\0" + token.encode()).digest()


@dataclass(frozen=True, slots=True)
class Identity:
    """What the request proved: `by` is "token", "session" or "" (anonymous)."""

    by: str
    session_id: str = ""

    @property
    def can_write(self) -> bool:
        return self.by in ("token", "session")


def is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def identify(request: Request, policy: Policy) -> Identity:
    if policy.token is None:
        return Identity("")
    offered = _header_token(request)
    if offered is not None and hmac.compare_digest(offered.encode(), policy.token.encode()):
        return Identity("token")
    session_id = read_session(request.cookies.get(COOKIE, ""), policy.key, time.time())
    return Identity("session", session_id) if session_id else Identity("")


def _header_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get(_HEADER)


def may_read(request: Request, policy: Policy, who: Identity) -> bool:
    return policy.public_read or is_loopback(request) or who.can_write


def check_token(policy: Policy, offered: str) -> bool:
    return policy.token is not None and hmac.compare_digest(
        offered.encode(), policy.token.encode()
    )


# --- session cookie: "<session id>.<expires>.<signature>" ----------------------------------

def new_session(key: bytes, now: float) -> str:
    session_id = secrets.token_urlsafe(18)
    body = f"{session_id}.{int(now) + SESSION_SECONDS}"
    return f"{body}.{_sign(key, body)}"


def read_session(cookie: str, key: bytes, now: float) -> str:
    """The session id of a valid, unexpired cookie; "" otherwise."""
    parts = cookie.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return ""
    body = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_sign(key, body), parts[2]) or int(parts[1]) < now:
        return ""
    return parts[0]


def csrf_token(key: bytes, session_id: str) -> str:
    return _sign(key, f"csrf\0{session_id}")


def csrf_ok(request: Request, key: bytes, who: Identity, offered: str | None) -> bool:
    """Header-token requests need no CSRF token (browsers never add that header themselves)."""
    if who.by == "token":
        return True
    if who.by != "session" or not offered or not same_origin(request):
        return False
    return hmac.compare_digest(offered, csrf_token(key, who.session_id))


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:  # not sent by older browsers on same-origin form posts
        return True
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def set_session_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        COOKIE, value, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


def _sign(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()

"""ASGI middleware: who is asking, whether they may read, and the security headers.

Health, metrics, static files and the login page are always reachable (probes and scrapers
must not need a token). Everything else is readable from loopback, by anybody when
`http.public_read` is set, and otherwise only with the token or a session.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from planwatch.web import auth

OPEN_PREFIXES = ("/health", "/metrics", "/static/", "/login", "/favicon.ico")

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


class AccessMiddleware:
    def __init__(self, app: ASGIApp, policy: auth.Policy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        who = auth.identify(request, self.policy)
        scope.setdefault("state", {})["identity"] = who
        path: str = scope["path"]
        if not path.startswith(OPEN_PREFIXES) and not auth.may_read(request, self.policy, who):
            await _denied(request)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _denied(request: Request) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse(
            {"error": "reading needs the token from a non-loopback address "
                      "(or http.public_read: true)"},
            status_code=401, headers={"www-authenticate": "Bearer"},
        )
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

"""Helpers every handler uses: the services, blocking reads off the loop, JSON, write checks."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from planwatch.web import auth
from planwatch.web.cache import ReadCache
from planwatch.web.services import WebServices

T = TypeVar("T")
PAGE_DATA_TTL_S = 2.0


def read_cache(request: Request) -> ReadCache:
    """The app's page-data cache (server.create_app makes it)."""
    cache: ReadCache = request.app.state.read_cache
    return cache


async def cached(request: Request, key: tuple[Any, ...], fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` run in a thread, shared with identical requests for PAGE_DATA_TTL_S."""
    return await read_cache(request).get(key, lambda: blocking(fn, *args))


def services(request: Request) -> WebServices:
    found: WebServices = request.app.state.services
    return found


def policy(request: Request) -> auth.Policy:
    value: auth.Policy = request.app.state.policy
    return value


def identity(request: Request) -> auth.Identity:
    who: auth.Identity = getattr(request.state, "identity", auth.Identity(""))
    return who


async def blocking(fn: Callable[..., T], *args: Any) -> T:
    """Storage reads and writes are blocking: run them in a thread, off the event loop."""
    return await asyncio.to_thread(fn, *args)


def require_write(request: Request, csrf: str | None) -> auth.Identity:
    """The identity of an authorized writer, or 401/403 saying what is missing."""
    p = policy(request)
    if p.token is None:
        raise HTTPException(403, "writes are disabled: no http.token is configured")
    who = identity(request)
    if not who.can_write:
        raise HTTPException(401, "this action needs the token (Authorization: Bearer …) "
                                 "or a login session")
    if not auth.csrf_ok(request, p.key, who, csrf):
        raise HTTPException(403, "missing or invalid CSRF token, or cross-origin request")
    return who


def actor(request: Request, who: auth.Identity) -> str:
    host = request.client.host if request.client else "?"
    return f"web:{who.by}@{host}"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class JSON(Response):
    """JSON where NaN/Infinity (not JSON) become null instead of a 500."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(content, allow_nan=False, separators=(",", ":"), default=str)
        except ValueError:
            text = json.dumps(_finite(content), separators=(",", ":"), default=str)
        return text.encode()

"""The API and dashboard as pieces for `server.create_app`: routes, middleware, error pages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import structlog
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from planwatch.errors import NotFound, StorageError
from planwatch.web import access, api, auth, dashboard, notifications
from planwatch.web.common import JSON

if TYPE_CHECKING:
    from planwatch.config.settings import HttpSettings

log = structlog.get_logger(__name__)
STATIC = dashboard.HERE / "static"


async def favicon(request: Request) -> Response:
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


def routes() -> list[BaseRoute]:
    return [
        *api.routes(),
        *notifications.routes(),
        *dashboard.routes(),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def policy(http: HttpSettings) -> auth.Policy:
    token = http.token.reveal() if http.token is not None else None
    return auth.Policy(token=token or None, public_read=http.public_read)


def middleware(http: HttpSettings) -> list[Middleware]:
    return [Middleware(access.AccessMiddleware, policy=policy(http))]


def _error(request: Request, status: int, message: str,
           headers: Mapping[str, str] | None = None) -> Response:
    if request.url.path.startswith("/api/"):
        response: Response = JSON({"error": message}, status_code=status)
    elif request.url.path.startswith(("/health", "/metrics", "/static/")):
        response = Response(message, status_code=status, media_type="text/plain")
    else:
        response = dashboard.render(request, "error.html", "error",
                                    {"status": status, "message": message}, status_code=status)
    response.headers.update(headers or {})  # e.g. Allow on 405
    return response


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(request, exc.status_code, str(exc.detail), exc.headers)


async def not_found(request: Request, exc: Exception) -> Response:
    return _error(request, 404, str(exc))


async def storage_error(request: Request, exc: Exception) -> Response:
    log.warning("web.storage_error", path=request.url.path, error=str(exc))
    return _error(request, 503, "storage unavailable")


def exception_handlers() -> dict[type[Exception] | int, object]:
    return {HTTPException: http_error, NotFound: not_found, StorageError: storage_error}

"""The Starlette app (routes as data) and its uvicorn server sharing the worker's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from planwatch.clock import utcnow
from planwatch.errors import PlanwatchError
from planwatch.web import common, health, metrics, site
from planwatch.web.cache import ReadCache
from planwatch.web.services import WebServices


async def live(request: Request) -> Response:
    code, body = health.report(health.liveness(common.services(request), utcnow()))
    return JSONResponse(body, status_code=code)


async def ready(request: Request) -> Response:
    checks = await asyncio.to_thread(health.readiness, common.services(request))
    code, body = health.report(checks)
    return JSONResponse(body, status_code=code)


async def full(request: Request) -> Response:
    checks = await asyncio.to_thread(health.everything, common.services(request), utcnow())
    code, body = health.report(checks)
    return JSONResponse(body, status_code=code)


async def prometheus(request: Request) -> Response:
    data = await asyncio.to_thread(metrics.render, request.app.state.registry)
    return Response(data, media_type=CONTENT_TYPE_LATEST)


def create_app(services: WebServices) -> Starlette:
    http = services.settings.http  # read once: changing http needs a restart
    routes = [
        Route("/health/live", live),
        Route("/health/ready", ready),
        Route("/health", full),
        Route("/metrics", prometheus),
        *site.routes(),  # JSON API (/api/v1) and dashboard
    ]
    app = Starlette(
        routes=routes,
        middleware=site.middleware(http),
        exception_handlers=site.exception_handlers(),  # type: ignore[arg-type]
    )
    app.state.services = services
    app.state.policy = site.policy(http)
    app.state.registry = metrics.registry_for(services)
    app.state.read_cache = ReadCache(common.PAGE_DATA_TTL_S)
    return app


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the worker's signal handling owns shutdown."""

    started_event: asyncio.Event | None = None
    failed = False

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        except SystemExit:  # uvicorn exits the process when it cannot bind: report it instead
            self.failed = self.should_exit = True
            return
        if self.started_event is not None and self.started:
            self.started_event.set()  # listening: the worker may report READY


async def serve(services: WebServices, stop: asyncio.Event,
                started: asyncio.Event | None = None) -> None:
    """Serve HTTP until `stop` is set; set `started` once the socket listens."""
    http = services.settings.http
    config = uvicorn.Config(
        create_app(services), host=http.host, port=http.port, log_config=None,
        access_log=False, lifespan="off",
    )
    server = _Server(config)
    server.started_event = started
    task = asyncio.create_task(server.serve())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopper.cancel()
    await task
    if server.failed:
        raise PlanwatchError(f"the HTTP server cannot listen on {http.host}:{http.port} "
                             "(see the error above); change http.port or stop the other process")

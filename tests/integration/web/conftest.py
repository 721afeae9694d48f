"""A worker over seeded storage (SQLite and PostgreSQL) and HTTP clients for its web app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from integration.web import webseed
from planwatch.app import App
from planwatch.clock import utcnow
from planwatch.config import loader
from planwatch.web.server import create_app

TOKEN = "test-token-123"


def settings_mapping(storage_url: str, **http: Any) -> dict[str, Any]:
    return {
        "storage": {"url": storage_url},
        "targets": [
            {"name": t.name, "engine": t.engine, "dsn": t.dsn.reveal(),
             "environment": t.environment, "tags": list(t.tags)}
            for t in webseed.target_settings()
        ],
        "http": {"token": TOKEN, **http},
    }


@dataclass
class Site:
    app: App
    seeded: webseed.Seeded
    asgi: Any

    def client(self, host: str = "127.0.0.1", **kw: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.asgi, client=(host, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver", **kw)


async def make_site(storage_url: str, **http: Any) -> AsyncIterator[Site]:
    settings = loader.load_mapping(settings_mapping(storage_url, **http), environ={})
    async with App(settings, one_shot=True) as app:
        seeded = webseed.seed(app.storage, utcnow())
        yield Site(app, seeded, create_app(app.web))


@pytest.fixture
async def site(storage_url: str) -> AsyncIterator[Site]:
    async for s in make_site(storage_url):
        yield s


@pytest.fixture
async def client(site: Site) -> AsyncIterator[httpx.AsyncClient]:
    async with site.client() as c:
        yield c

"""Fixtures for alerting integration tests: real receivers and job deps (over the shared
migrated `storage`, tests/storage_templates.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from alerting_support import T0
from receivers import SmtpReceiver, WebhookReceiver

from planwatch.config.settings import Settings
from planwatch.jobs.deps import JobDeps
from planwatch.runtime import RuntimeState
from planwatch.scheduling.breaker import BreakerBoard
from planwatch.storage.engine import Storage


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    r.start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    r = SmtpReceiver()
    r.start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def make_deps(storage: Storage) -> Iterator[Callable[[Settings], JobDeps]]:
    executor = ThreadPoolExecutor(max_workers=6)

    def build(settings: Settings) -> JobDeps:
        state = RuntimeState(started_at=T0 - timedelta(days=1))
        return JobDeps(settings=settings, storage=storage, state=state,
                       breakers=BreakerBoard.from_settings(settings.scheduling),
                       executor=executor, worker_id="test-worker")

    yield build
    executor.shutdown(wait=True)



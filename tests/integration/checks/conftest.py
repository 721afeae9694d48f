"""Fixtures for check tests: runners that are closed at the end of the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from checks_support import FAST_RECONNECT, MakeRunner

from planwatch.checks.runner import CheckRunner
from planwatch.config.settings import Settings


@pytest.fixture
async def make_runner() -> AsyncIterator[MakeRunner]:
    """Build runners (closed at the end of the test)."""
    made: list[CheckRunner] = []

    def make(s: Settings, **kw: Any) -> CheckRunner:
        kw.setdefault("reconnect", FAST_RECONNECT)
        runner = CheckRunner(s, **kw)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        await runner.aclose()

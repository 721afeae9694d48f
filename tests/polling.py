"""Wait for a condition by polling it against a deadline, instead of sleeping a fixed time.

A fixed sleep is both slow (it always waits the worst case) and flaky (on a loaded machine the
worst case is longer). Polling returns as soon as the condition holds; the timeout is a
liveness bound, not a timing assertion, so it is generous.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.1, *,
    what: str = "condition", detail: Callable[[], str] | None = None,
) -> T:
    """Call `predicate` until it returns something truthy, and return that.

    Raises AssertionError naming `what` (and `detail()`, e.g. a log tail) once `timeout`
    seconds have passed without it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{detail()}" if detail is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


async def async_wait_until(
    predicate: Callable[[], T | Awaitable[T | None] | None], within: float = 30.0,
    interval: float = 0.1, *, what: str = "condition",
) -> T:
    """`wait_until` for tests on an event loop: sleeps without blocking the loop.

    `predicate` may be a plain function or return an awaitable; `within` is the timeout.
    """
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(interval)

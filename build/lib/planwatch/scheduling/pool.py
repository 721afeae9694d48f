"""The bounded thread pool that runs blocking driver calls for jobs.

`loop.run_in_executor` does not carry contextvars into the worker thread (`asyncio.to_thread`
does), so log lines a collector writes from its thread would lose the job run's correlation
id. This pool runs every call in a copy of the submitter's context.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class ContextPool(ThreadPoolExecutor):
    """A `ThreadPoolExecutor` whose calls see the caller's contextvars (structlog bindings)."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        context = contextvars.copy_context()

        def call() -> T:
            return context.run(fn, *args, **kwargs)

        return super().submit(call)

"""The job thread pool carries the caller's contextvars (the job run's log bindings)."""

from __future__ import annotations

import asyncio
import contextvars

from planwatch.scheduling.pool import ContextPool

run_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("run_id", default=None)


async def test_calls_see_the_submitters_context() -> None:
    pool = ContextPool(max_workers=2)
    try:
        loop = asyncio.get_running_loop()

        async def job(n: int) -> int | None:
            run_id.set(n)
            return await loop.run_in_executor(pool, run_id.get)

        assert await asyncio.gather(job(1), job(2)) == [1, 2]
        assert await loop.run_in_executor(pool, run_id.get) is None
    finally:
        pool.shutdown()

"""Running the worker: forever (until a signal) or one-shot for the CLI's --once commands."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import structlog

from planwatch.app import App
from planwatch.config.settings import Settings
from planwatch.scheduling import signals
from planwatch.scheduling.runner import JobOutcome

log = structlog.get_logger("planwatch.daemon")


async def run(settings: Settings, config_path: str | None = None) -> int:
    """Run until SIGTERM/SIGINT; SIGHUP reloads the configuration."""
    async with App(settings, config_path=config_path) as app:
        loop = asyncio.get_running_loop()
        with signals.handle_signals(loop, on_stop=app.stop_event.set, on_reload=app.reload):
            await app.run()
    return 0


async def run_once(
    settings: Settings, names: Sequence[str], *, pause: timedelta = timedelta(0)
) -> list[tuple[str, JobOutcome | BaseException]]:
    """Run the named jobs once each; collections poll twice, `pause` apart, to make an interval."""
    out: list[tuple[str, JobOutcome | BaseException]] = []
    async with App(settings, one_shot=True) as app:
        collections = [n for n in names if n.startswith("collection:")]
        if collections and pause > timedelta(0):
            await asyncio.gather(*(app.scheduler.run_once(n) for n in collections),
                                 return_exceptions=True)
            await asyncio.sleep(pause.total_seconds())
        for name in names:
            try:
                out.append((name, await app.scheduler.run_once(name)))
            except Exception as exc:
                out.append((name, exc))
    return out

"""Windows service entry point: `python -m planwatch.winservice install|start|stop|remove`.

The service runs the same worker as `planwatch run`, with the configuration named by the
service's PLANWATCH_CONFIG environment variable (else planwatch.yaml in its working
directory), and stops it when the Service Control Manager asks. `ServiceRunner` is the
platform-independent part (tested on Linux); the pywin32 glue below it needs Windows.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import structlog

from planwatch import logs
from planwatch.app import App
from planwatch.config import loader
from planwatch.config.settings import Settings

log = structlog.get_logger(__name__)

STOP_WAIT_S = 10.0  # the SCM is told to expect the stop within this


class ServiceRunner:
    """Runs one worker on its own event loop (in the calling thread); `stop` from any thread."""

    def __init__(self, config_path: str | Path | None = None) -> None:
        self.config_path = str(config_path) if config_path is not None else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._app: App | None = None
        self._stop_requested = threading.Event()
        self.started = threading.Event()

    def run(self) -> int:
        """Load the config, run the worker until `stop`; 0 on a clean stop."""
        settings = loader.load(self.config_path)
        logs.configure(settings.logging.level, settings.logging.format or "json")
        return asyncio.run(self._serve(settings))

    def stop(self) -> None:
        self._stop_requested.set()
        loop, app = self._loop, self._app
        if loop is not None and app is not None and not loop.is_closed():
            loop.call_soon_threadsafe(app.stop_event.set)

    async def _serve(self, settings: Settings) -> int:
        async with App(settings, config_path=self.config_path) as app:
            self._loop, self._app = asyncio.get_running_loop(), app
            self.started.set()
            if self._stop_requested.is_set():  # stop() came while starting
                app.stop_event.set()
            await app.run()
        log.info("service.stopped")
        return 0


def _windows_service() -> type:
    """The pywin32 ServiceFramework subclass (imported only on Windows)."""
    import servicemanager
    import win32service
    import win32serviceutil

    class PlanwatchService(win32serviceutil.ServiceFramework):  # type: ignore[misc]
        _svc_name_ = "planwatch"
        _svc_display_name_ = "planwatch database regression monitor"
        _svc_description_ = "Watches databases for query performance regressions."

        def __init__(self, args: list[str]) -> None:
            super().__init__(args)
            self.runner = ServiceRunner()

        def SvcStop(self) -> None:
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING,
                                     waitHint=int(STOP_WAIT_S * 1000))
            self.runner.stop()

        def SvcDoRun(self) -> None:
            servicemanager.LogInfoMsg("planwatch starting")
            self.runner.run()
            servicemanager.LogInfoMsg("planwatch stopped")

    return PlanwatchService


def main(argv: list[str] | None = None) -> None:
    if sys.platform != "win32":
        raise SystemExit("planwatch.winservice is for Windows; elsewhere use `planwatch run` "
                         "under systemd (deploy/systemd) or a container")
    import win32serviceutil

    args = [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]
    win32serviceutil.HandleCommandLine(_windows_service(), argv=args)


if __name__ == "__main__":
    main()

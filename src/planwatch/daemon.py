"""Running the worker: forever (until a signal) or one-shot for the CLI's --once commands.

Shutdown is bounded: a stop signal cancels in-flight work at its next await and the worker
is marked Stopped, but a driver call blocked inside a thread (a connect to a frozen server
waits for `connect_timeout`) cannot be interrupted. Such threads are abandoned at exit
instead of joined, and a hard deadline ends the process if the graceful path itself hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta

import psutil
import structlog

from planwatch import systemd
from planwatch.app import App
from planwatch.clock import utcnow
from planwatch.config.settings import Settings
from planwatch.errors import PlanwatchError
from planwatch.model.jobs import WorkerStatus
from planwatch.scheduling import signals
from planwatch.scheduling.runner import JobOutcome
from planwatch.storage import workers
from planwatch.storage.engine import Storage
from planwatch.web import health

log = structlog.get_logger("planwatch.daemon")

STOP_DEADLINE = 9.0  # seconds from the stop signal to a forced exit (SPEC: within 10 s)
THREAD_GRACE = 1.0  # seconds idle pool threads get to finish before they are abandoned
FORCED_EXIT_CODE = 1
RELOAD_SIGNAL = int(getattr(signal, "SIGHUP", 0))  # 0: no SIGHUP (Windows)
GC_THRESHOLDS = (50_000, 20, 10)  # CPython's defaults: (700, 10, 10)


def main(settings: Settings, config_path: str | None = None, *,
         lifeline: int | None = None) -> int:
    """`planwatch run`: the worker until SIGTERM/SIGINT, then leave without waiting on
    threads stuck in driver calls; forced out `STOP_DEADLINE` seconds after the signal."""
    deadline = threading.Timer(STOP_DEADLINE, _forced_exit)
    deadline.daemon = True
    try:
        code = asyncio.run(run(settings, config_path, on_stop=deadline.start,
                               lifeline=lifeline))
        return leave(code)
    finally:
        deadline.cancel()


async def run(
    settings: Settings, config_path: str | None = None, *,
    notifier: systemd.Notifier | None = None, on_stop: Callable[[], None] | None = None,
    lifeline: int | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (or end-of-file on `lifeline`, the pipe from a supervising
    `planwatch run --workers N`); SIGHUP reloads the configuration.

    Signals are handled from before the start (a stop during migration ends the worker as
    soon as it is up, within the deadline), so a service manager never kills it mid-start.
    """
    notifier = notifier or systemd.Notifier()
    app = App(settings, config_path=config_path)
    stopping = False

    def stop() -> None:
        nonlocal stopping
        if stopping:  # a signal and the lifeline both asked: one stop
            return
        stopping = True
        notifier.stopping()
        if on_stop is not None:
            on_stop()
        app.stop_event.set()

    loop = asyncio.get_running_loop()
    if lifeline is not None:
        _watch_lifeline(loop, lifeline, stop)
    with signals.handle_signals(loop, on_stop=stop, on_reload=app.reload):
        async with app:
            tune_gc()
            supervisor = asyncio.create_task(_supervise(app, notifier), name="sd_notify")
            try:
                await app.run()
            finally:
                supervisor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await supervisor
    return 0


def tune_gc() -> None:
    """Keep the cyclic garbage collector off a worker's hot path. An analysis holds tens of
    thousands of short-lived objects (a window of samples): with the default young threshold
    they are traversed and promoted before they die, and the full collections that follow
    took ~10 % of a worker's CPU (bench/worker_cpu.py). What is alive once the worker has
    started (modules, settings, tables) is frozen out of every later collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _watch_lifeline(loop: asyncio.AbstractEventLoop, fd: int, stop: Callable[[], None]) -> None:
    """End-of-file on `fd` (the supervisor closed its end, or died) stops this worker."""
    os.set_blocking(fd, False)

    def readable() -> None:
        try:
            if os.read(fd, 64):
                return  # nothing is ever written: only the end of the pipe means something
        except BlockingIOError:
            return
        loop.remove_reader(fd)
        os.close(fd)
        log.info("worker.supervisor_stop", detail="the supervising process asked to stop")
        stop()

    loop.add_reader(fd, readable)


async def _supervise(app: App, notifier: systemd.Notifier) -> None:
    """READY=1 once serving; WATCHDOG=1 while the scheduler makes progress."""
    await app.ready.wait()
    notifier.ready(f"{len(app.settings.targets)} target(s)")
    log.info("worker.ready", systemd=notifier.enabled)
    interval = notifier.watchdog_interval
    if interval is None:
        return
    while not app.stop_event.is_set():
        if all(c.status is health.Status.HEALTHY for c in health.liveness(app.web, utcnow())):
            notifier.watchdog()  # a stalled scheduler stops the pings: systemd restarts us
        await asyncio.sleep(interval.total_seconds())


def leave(code: int) -> int:
    """Return `code`, or exit with it at once when pool threads are stuck in driver calls."""
    stuck = _stuck_threads(THREAD_GRACE)
    if not stuck:
        return code
    log.warning("worker.threads_abandoned", threads=sorted(t.name for t in stuck),
                detail="blocked in a database driver call; not waiting for it")
    _flush()
    os._exit(code)


def _stuck_threads(grace: float) -> list[threading.Thread]:
    others = [
        t for t in threading.enumerate()
        if t is not threading.main_thread() and not t.daemon and t.is_alive()
    ]
    for t in others:
        t.join(timeout=grace / max(1, len(others)))
    return [t for t in others if t.is_alive()]


def _forced_exit() -> None:
    log.error("worker.stop_deadline_exceeded", seconds=STOP_DEADLINE)
    _flush()
    os._exit(FORCED_EXIT_CODE)


def _flush() -> None:
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


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


def signal_local_workers(
    storage: Storage, signum: int = RELOAD_SIGNAL, *, pid: int | None = None
) -> tuple[list[str], list[str]]:
    """Send `signum` to the Running workers of `storage` on this host (only the one with
    `pid` when given): one line per worker, and the instance ids that were signalled.

    A row's pid is only signalled when that process still runs planwatch (pids are reused).
    """
    if not signum:
        raise PlanwatchError("reloading by signal is not available on this platform: restart")
    host = socket.gethostname()
    lines: list[str] = []
    sent: list[str] = []
    for w in workers.list_all(storage):
        if w.host != host or w.status is not WorkerStatus.RUNNING or pid not in (None, w.pid):
            continue
        if not _is_planwatch(w.pid):
            lines.append(f"skipped worker {w.name} (pid {w.pid}): no planwatch process has "
                         "that pid any more")
            continue
        try:
            os.kill(w.pid, signum)
        except PermissionError:
            lines.append(f"cannot signal worker {w.name} (pid {w.pid}): permission denied; run "
                         "as the worker's user (or: systemctl reload planwatch)")
            continue
        except ProcessLookupError:
            lines.append(f"skipped worker {w.name} (pid {w.pid}): it just exited")
            continue
        lines.append(f"sent {signal.Signals(signum).name} to worker {w.name} (pid {w.pid})")
        sent.append(w.instance_id)
    return lines, sent


def _is_planwatch(pid: int) -> bool:
    try:
        cmdline = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return any("planwatch" in part for part in cmdline)

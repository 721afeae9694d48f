"""`planwatch run --workers N`: one parent process that starts and supervises N workers.

One worker is one asyncio loop and uses one core; to use a host's other cores the parent starts
several worker processes, which share the targets through the storage leases exactly as
workers on different hosts do (PostgreSQL storage; SQLite serves one worker). Worker `i` is
`python -m planwatch run --workers 1` named `<worker.name or host>/<i>`, with its HTTP server
on `http.port + i - 1`.

- A worker that exits is restarted after a backoff (1 s doubling to 1 min, reset once it has
  run for a minute).
- SIGTERM / SIGINT: each worker's *lifeline* is closed, a pipe whose end-of-file asks it to
  stop as if signalled. A worker that also got the signal itself (Ctrl-C reaches the whole
  process group, systemd's KillMode=control-group every process) stops once all the same,
  where a forwarded second signal would force it out. The lifeline also stops the workers
  when the parent dies. Workers still running after `STOP_DEADLINE` are killed; the parent
  exits once every worker has stopped. SIGHUP is forwarded (each worker re-reads the config).
- systemd (`Type=notify`): the parent is the unit's main process. Each worker reports to the
  parent on a socket of its own (its NOTIFY_SOCKET), so the parent sends READY=1 once every
  worker is ready, WATCHDOG=1 while it supervises, STOPPING=1 when it stops; a worker that
  stops sending its watchdog pings within WatchdogSec is killed and restarted by the parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import structlog

from planwatch import systemd
from planwatch.config.settings import Settings
from planwatch.errors import ConfigError, PlanwatchError
from planwatch.scheduling import signals
from planwatch.scheduling.backoff import RetryPolicy

log = structlog.get_logger("planwatch.supervisor")

RESTART = RetryPolicy(initial=timedelta(seconds=1), multiplier=2.0, max=timedelta(minutes=1))
STABLE_AFTER = 60.0  # seconds a worker must run before its restart backoff starts over
STOP_DEADLINE = 10.0  # seconds from the stop to killing the workers (each exits within 9 s)
_SYSTEMD_ONLY = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
                 "LISTEN_FDNAMES")


def available_cores(
    proc_cgroup: Path = Path("/proc/self/cgroup"), cgroup_root: Path = Path("/sys/fs/cgroup"),
) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota (a
    container's or a systemd CPUQuota=), which `os.cpu_count()` does not see."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        own = next(line[3:] for line in proc_cgroup.read_text().splitlines()
                   if line.startswith("0::"))
        quota, period = (cgroup_root / own.lstrip("/") / "cpu.max").read_text().split()
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, StopIteration, ValueError):
        pass  # no cgroup v2, or no quota: the affinity mask decides
    return max(1, cores)


def worker_count(requested: int | None, settings: Settings) -> int:
    """`--workers`: the number asked for, else one per core on PostgreSQL storage and one on
    SQLite, which refuses a second worker."""
    sqlite = settings.storage_url.reveal().startswith("sqlite")
    if requested is None:
        return 1 if sqlite else available_cores()
    if sqlite and requested > 1:
        raise ConfigError([("run --workers", f"SQLite storage serves one worker, not "
                                             f"{requested}: use PostgreSQL storage to run "
                                             "several (docs/fleet.md)")])
    return requested


@dataclass
class Slot:
    """One supervised worker: its name and port, and the process currently running it."""

    index: int
    name: str
    port: int | None  # None: HTTP disabled or an ephemeral port (0)
    notify_path: str = ""
    proc: asyncio.subprocess.Process | None = None
    lifeline: int | None = None  # the parent's end of the pipe; closing it stops the worker
    started: float = 0.0
    failures: int = 0
    ready: bool = False
    last_ping: float = 0.0


def slots(settings: Settings, workers: int) -> list[Slot]:
    """Worker `i` is `<name>/i` and listens on `http.port + i - 1`."""
    base = settings.worker_name or socket.gethostname()
    http = settings.http
    port = http.port if http.enabled and http.port else None
    if port is not None and port + workers - 1 > 65535:
        raise ConfigError([("http.port", f"{workers} workers need ports {port}.."
                                         f"{port + workers - 1}, beyond 65535")])
    return [Slot(i, f"{base}/{i}", None if port is None else port + i - 1)
            for i in range(1, workers + 1)]


def child_env(
    environ: Mapping[str, str], slot: Slot, watchdog_usec: int | None,
) -> dict[str, str]:
    """The worker's environment: the parent's, its own name, port and notify socket."""
    env = {k: v for k, v in environ.items() if k not in _SYSTEMD_ONLY}
    env["PLANWATCH_WORKER__NAME"] = slot.name
    if slot.port is not None:
        env["PLANWATCH_HTTP__PORT"] = str(slot.port)
    env["NOTIFY_SOCKET"] = slot.notify_path
    if watchdog_usec:
        env["WATCHDOG_USEC"] = str(watchdog_usec)
    return env


@dataclass
class Supervisor:
    """Runs `slots` as worker processes of `command` until stopped (see the module doc)."""

    command: Sequence[str]  # the worker's command line, less `--lifeline-fd N`
    slots: list[Slot]
    notifier: systemd.Notifier = field(default_factory=systemd.Notifier)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def __post_init__(self) -> None:
        self.stopping = asyncio.Event()
        self.killed = False  # a worker had to be killed at the stop: exit code 1
        self.announced = False
        interval = self.notifier.watchdog_interval
        self.watchdog_usec = None if interval is None else int(interval / timedelta(
            microseconds=1)) * 2

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        with (tempfile.TemporaryDirectory(prefix="planwatch-") as tmp,
              signals.handle_signals(loop, on_stop=self.stop, on_reload=self.reload,
                                     on_force=self.force),
              contextlib.ExitStack() as sockets):
            for slot in self.slots:
                sockets.enter_context(self._listen(loop, slot, tmp))
            log.info("supervisor.started", workers=len(self.slots), pid=os.getpid())
            tasks = [asyncio.create_task(self._keep(slot), name=slot.name)
                     for slot in self.slots]
            if self.watchdog_usec:
                tasks.append(asyncio.create_task(self._watchdog(), name="watchdog"))
            await asyncio.gather(*tasks)
        log.info("supervisor.stopped", killed=self.killed)
        return 1 if self.killed else 0

    def stop(self) -> None:
        """Ask every worker to stop (lifeline closed); kill those left after the deadline."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self.notifier.stopping()
        for slot in self.slots:
            self._close_lifeline(slot)
        asyncio.get_running_loop().call_later(STOP_DEADLINE, self.force)

    def force(self) -> None:
        """Kill the workers still running (a second stop signal, or the deadline)."""
        self.stopping.set()
        for slot in self.slots:
            if slot.proc is not None and slot.proc.returncode is None:
                log.warning("supervisor.worker_killed", worker=slot.name, pid=slot.proc.pid)
                self.killed = True
                slot.proc.kill()

    def reload(self) -> None:
        for slot in self.slots:
            if slot.proc is not None and slot.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.proc.send_signal(signal.SIGHUP)

    async def _keep(self, slot: Slot) -> None:
        """Run the slot's worker, restarting it with backoff, until the stop."""
        while not self.stopping.is_set():
            try:
                code: int | str = await self._run_once(slot)
            except OSError as exc:  # could not even start it
                code = f"failed to start: {exc}"
            if self.stopping.is_set():
                break
            ran = time.monotonic() - slot.started
            slot.failures = 1 if ran >= STABLE_AFTER else slot.failures + 1
            delay = RESTART.delay(slot.failures).total_seconds()
            log.warning("supervisor.worker_exited", worker=slot.name, exit=code,
                        ran_s=round(ran, 1), restart_in_s=delay)
            self._status()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)

    async def _run_once(self, slot: Slot) -> int:
        read_end, write_end = os.pipe()
        try:
            slot.started, slot.ready = time.monotonic(), False
            slot.proc = await asyncio.create_subprocess_exec(
                *self.command, "--lifeline-fd", str(read_end), pass_fds=(read_end,),
                env=child_env(self.environ, slot, self.watchdog_usec),
            )
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        slot.lifeline = write_end
        log.info("supervisor.worker_started", worker=slot.name, pid=slot.proc.pid)
        if self.stopping.is_set():  # the stop came while it was being started
            self._close_lifeline(slot)
        try:
            code = await slot.proc.wait()
        finally:
            self._close_lifeline(slot)
        return code

    @staticmethod
    def _close_lifeline(slot: Slot) -> None:
        if slot.lifeline is not None:
            os.close(slot.lifeline)
            slot.lifeline = None

    @contextlib.contextmanager
    def _listen(self, loop: asyncio.AbstractEventLoop, slot: Slot, tmp: str) -> Iterator[None]:
        """The slot's notify socket, read on the loop for READY=1 and WATCHDOG=1."""
        slot.notify_path = str(Path(tmp) / f"worker-{slot.index}.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(slot.notify_path)
            sock.setblocking(False)
            loop.add_reader(sock.fileno(), self._notified, slot, sock)
            try:
                yield
            finally:
                loop.remove_reader(sock.fileno())

    def _notified(self, slot: Slot, sock: socket.socket) -> None:
        with contextlib.suppress(BlockingIOError):
            fields = sock.recv(4096).decode(errors="replace").split("\n")
            if "WATCHDOG=1" in fields or "READY=1" in fields:
                slot.last_ping = time.monotonic()
            if "READY=1" in fields and not slot.ready:
                slot.ready = True
                log.info("supervisor.worker_ready", worker=slot.name)
                self._status()

    def _status(self) -> None:
        ready = sum(s.ready and s.proc is not None and s.proc.returncode is None
                    for s in self.slots)
        text = f"{ready}/{len(self.slots)} workers ready"
        if ready == len(self.slots) and not self.announced and not self.stopping.is_set():
            self.announced = True
            self.notifier.ready(text)
            log.info("supervisor.ready", workers=ready)
        elif self.announced:
            self.notifier.notify(f"STATUS={text}")

    async def _watchdog(self) -> None:
        """Ping systemd while supervising; kill a ready worker whose own pings stopped."""
        assert self.watchdog_usec is not None
        limit = self.watchdog_usec / 1e6
        while not self.stopping.is_set():
            now = time.monotonic()
            for slot in self.slots:
                proc = slot.proc
                if slot.ready and proc is not None and proc.returncode is None and (
                        now - slot.last_ping > limit):
                    log.error("supervisor.worker_stalled", worker=slot.name, pid=proc.pid,
                              silent_s=round(now - slot.last_ping, 1))
                    slot.ready = False
                    proc.kill()
            self.notifier.watchdog()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), limit / 4)


def command(config: str | None, log_level: str | None) -> list[str]:
    """The command line of one supervised worker."""
    cmd = [sys.executable, "-m", "planwatch"]
    if config:
        cmd += ["-c", config]
    if log_level:
        cmd += ["--log-level", log_level]
    return [*cmd, "run", "--workers", "1"]


def main(settings: Settings, workers: int, *, config: str | None, log_level: str | None) -> int:
    """`planwatch run --workers N` (N > 1): supervise until stopped; the exit code."""
    if os.name != "posix":
        raise PlanwatchError("several workers per process tree need a POSIX system: start one "
                             "`planwatch run --workers 1` per worker instead")
    supervisor = Supervisor(command(config, log_level), slots(settings, workers))
    return asyncio.run(supervisor.run())

"""The real `planwatch` command in a subprocess, for tests of process-level behaviour.

Output goes to files (never pipes, which fill up and block the worker); log lines are JSON.
`wait_for` polls a condition with a generous bound: it is a liveness limit, not a timing
assertion.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import structlog
import yaml

from planwatch import cli as cli_module
from planwatch.devtools.pgcluster import free_port
from planwatch.model.jobs import JobRun
from planwatch.storage import job_runs
from planwatch.storage.engine import Storage
from polling import wait_until

T = TypeVar("T")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def in_process(*args: str) -> Result:
    """`planwatch ARGS` through `cli.main` in this process (fast; same code as the script)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_module.main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
    _reset_logging()
    return Result(code, out.getvalue(), err.getvalue())


def _reset_logging() -> None:
    """`cli.main` configures logging for a process; undo it so other tests are unaffected."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_planwatch_handler", False)]:
        root.removeHandler(handler)
    structlog.reset_defaults()


def planwatch_command() -> list[str]:
    """The installed console script next to this interpreter (the CLI a user runs)."""
    script = Path(sys.executable).with_name("planwatch")
    if script.exists():
        return [str(script)]
    found = shutil.which("planwatch")
    return [found] if found else [sys.executable, "-m", "planwatch.cli"]


def cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 60, cwd: Path | None = None,
    user: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `planwatch ARGS` to completion (as UID `user` if given), capturing its output."""
    return subprocess.run(
        [*planwatch_command(), *args], capture_output=True, text=True, timeout=timeout,
        env=child_env(env), cwd=cwd, check=False, user=user, group=user,
    )


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANWATCH_")}
    env.pop("NOTIFY_SOCKET", None)
    return {**env, **(extra or {})}


def wait_for(
    condition: Callable[[], T | None], *, timeout: float = 60.0, interval: float = 0.2,
    what: str = "condition", process: WorkerProcess | None = None,
) -> T:
    """Poll until `condition()` is truthy and return it; fail with `what` after `timeout`
    (at once if `process` exits meanwhile)."""

    def check() -> T | None:
        value = condition()
        if not value and process is not None and process.proc.poll() is not None:
            raise AssertionError(f"worker exited ({process.proc.returncode}) while waiting for "
                                 f"{what}:\n{process.stderr()[-3000:]}")
        return value

    detail = (lambda: process.stderr()[-3000:]) if process is not None else None
    return wait_until(check, timeout, interval, what=what, detail=detail)


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return path


def fast_config(
    tmp_path: Path, targets: list[dict[str, Any]], *, port: int | None = None,
    storage_url: str | None = None, **sections: Any,
) -> dict[str, Any]:
    """A worker configuration with second-scale schedules and backoff (for tests only)."""
    config: dict[str, Any] = {
        "storage": {"url": storage_url or f"sqlite:///{tmp_path / 'planwatch.db'}"},
        "targets": targets,
        "scheduling": {
            "collection": {"interval": "1s", "startup_delay": "0s"},
            "analysis": {"interval": "2s", "startup_delay": "1s"},
            "heartbeat": {"interval": "1s"},
            "backoff": {"initial": "1s", "multiplier": 2, "max": "4s"},
            "max_consecutive_failures": 2,
            "jitter": "0s",
        },
        "http": {"host": "127.0.0.1", "port": port or free_port()},
        "logging": {"level": "info", "format": "json"},
    }
    config.update(sections)
    return config


class WorkerProcess:
    """`planwatch -c CONFIG run` in the background, with helpers to watch it."""

    def __init__(self, config_path: Path, *, env: Mapping[str, str] | None = None,
                 run_args: tuple[str, ...] = ()) -> None:
        self.config_path = config_path
        self.config = yaml.safe_load(config_path.read_text())
        self.out_path = config_path.with_suffix(".stdout")
        self.err_path = config_path.with_suffix(".stderr")
        self.port = int(self.config["http"]["port"])
        self._out = self.out_path.open("w")
        self._err = self.err_path.open("w")
        self.proc = subprocess.Popen(
            [*planwatch_command(), "-c", str(config_path), "run", *run_args],
            stdout=self._out, stderr=self._err, env=child_env(env),
        )
        self.storage = Storage.open(self.config["storage"]["url"])

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._out.close()
        self._err.close()
        self.storage.close()

    def send(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send `signum` and wait (at most `timeout`) for the exit code."""
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=timeout)

    def stdout(self) -> str:
        return self.out_path.read_text()

    def stderr(self) -> str:
        return self.err_path.read_text()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The JSON log lines (optionally only those with event `name`)."""
        out = []
        for line in self.stderr().splitlines():
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line still being written
                if name is None or record.get("event") == name:
                    out.append(record)
        return out

    def get(self, path: str) -> httpx.Response | None:
        """GET from the worker's HTTP server; None while it is not listening yet."""
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)
        except httpx.TransportError:
            return None

    def health(self, path: str = "/health/ready") -> tuple[int, dict[str, Any]] | None:
        response = self.get(path)
        return None if response is None else (response.status_code, response.json())

    def runs(self, job_name: str | None = None, limit: int = 200) -> list[JobRun]:
        """Job runs, oldest first."""
        try:
            return list(reversed(job_runs.recent(self.storage, job_name=job_name, limit=limit)))
        except Exception:  # the worker has not migrated the storage yet
            return []

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_for(lambda: self.get("/health/live"), timeout=timeout, what="HTTP up", process=self)

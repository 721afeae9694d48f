"""A real `planwatch run` subprocess over seeded SQLite storage, serving HTTP on loopback.

Only the heartbeat and health-check jobs run, so the seeded state stays as seeded while the
browser and fuzzing tests talk to the worker exactly as a user's browser or script would.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from integration.web import webseed
from planwatch.clock import utcnow
from planwatch.storage.engine import Storage

QUIET_JOBS = ("collection", "analysis", "checks", "baseline_rebuild", "daily_summary",
              "alert_processing", "retention_cleanup", "maintenance")


@dataclass(frozen=True)
class LiveWorker:
    base_url: str
    storage_url: str
    seeded: webseed.Seeded
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _config(tmp: Path, storage_url: str, port: int) -> Path:
    raw = {
        "storage": {"url": storage_url},
        "targets": [
            {"name": t.name, "engine": t.engine, "dsn": t.dsn.reveal(),
             "environment": t.environment, "tags": list(t.tags)}
            for t in webseed.target_settings()
        ],
        "scheduling": {name: {"enabled": False} for name in QUIET_JOBS},
        "http": {"host": "127.0.0.1", "port": port, "token": "${PW_TEST_TOKEN}"},
        "logging": {"level": "warning", "format": "json"},
    }
    path = tmp / "planwatch.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _wait_live(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health/live", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"worker did not become live:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def running(tmp: Path, token: str, storage_url: str | None = None) -> Iterator[LiveWorker]:
    """Seed the storage (default: a new SQLite file in `tmp`) and run a worker over it."""
    storage_url = storage_url or f"sqlite:///{tmp / 'planwatch.db'}"
    st = Storage.open(storage_url)
    try:
        st.migrate()
        seeded = webseed.seed(st, utcnow(), live_worker=False)
    finally:
        st.close()
    port = free_port()
    config = _config(tmp, storage_url, port)
    log = tmp / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "planwatch", "-c", str(config), "run", "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PW_TEST_TOKEN": token},
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_live(base, proc, log)
        yield LiveWorker(base, storage_url, seeded, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

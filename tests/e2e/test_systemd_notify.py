"""`planwatch run` under a service manager: READY=1 once serving, WATCHDOG=1 while the
scheduler makes progress, STOPPING=1 on SIGTERM, on a real unix datagram NOTIFY_SOCKET."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest
from workerproc import WorkerProcess, fast_config, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _messages(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_run_notifies_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(30)
        config = write_config(tmp_path / "pw.yaml", fast_config(tmp_path, []))
        env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}
        with WorkerProcess(config, env=env) as worker:
            ready = _messages(sock)
            assert ready[0] == "READY=1" and f"MAINPID={worker.proc.pid}" in ready
            assert worker.get("/health/live") is not None, "READY only once HTTP listens"
            assert _messages(sock) == ["WATCHDOG=1"]
            assert _messages(sock) == ["WATCHDOG=1"]
            worker.send(signal.SIGTERM)
            while (message := _messages(sock)) == ["WATCHDOG=1"]:
                pass
            assert message[0] == "STOPPING=1"
            assert worker.proc.wait(timeout=10) == 0
            assert not worker.events("worker.threads_abandoned")  # a clean stop joins all
            assert worker.events("worker.stopped")

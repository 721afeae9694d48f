"""sd_notify datagrams, received on a real unix datagram socket bound as NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from planwatch import systemd


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """What systemd does: bind a datagram socket and name it in NOTIFY_SOCKET."""
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(path)
        s.settimeout(5)
        yield s, path


def test_ready_watchdog_stopping_reach_the_manager(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    notifier = systemd.Notifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("2 target(s)")
    assert sock.recv(4096).decode().split("\n") == [
        "READY=1", "STATUS=2 target(s)", f"MAINPID={os.getpid()}"]
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1\nSTATUS=stopping"


def test_abstract_namespace_socket() -> None:
    name = f"planwatch-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name)
        s.settimeout(5)
        assert systemd.Notifier({"NOTIFY_SOCKET": "@" + name}).watchdog()
        assert s.recv(4096) == b"WATCHDOG=1"


def test_outside_systemd_nothing_is_sent() -> None:
    notifier = systemd.Notifier({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog_interval is None
    assert systemd.Notifier({"NOTIFY_SOCKET": "relative/path"}).enabled is False


def test_a_vanished_socket_is_logged_not_raised(tmp_path: Path) -> None:
    assert systemd.Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}).ready() is False


@pytest.mark.parametrize(("env", "expected"), [
    ({"WATCHDOG_USEC": "30000000"}, timedelta(seconds=15)),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, timedelta(seconds=15)),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
])
def test_watchdog_interval_is_half_of_watchdog_sec(
    env: dict[str, str], expected: timedelta | None
) -> None:
    assert systemd.Notifier({"NOTIFY_SOCKET": "/run/x", **env}).watchdog_interval == expected

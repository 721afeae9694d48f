"""The real pymssql driver under the SQL Server collector, as far as it can run here.

No SQL Server runs on this machine, so only what needs no server is checked live: the driver
imports (it is in the `sqlserver` and `dev` extras), a refused or silent port on loopback is
`TargetUnreachable` with the driver's own error number, and the password never shows.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from planwatch.collectors import base
from planwatch.config.settings import Secret, TargetSettings
from planwatch.devtools import pgcluster
from planwatch.errors import TargetUnreachable

pytestmark = pytest.mark.integration
pytest.importorskip("pymssql")

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def target(port: int) -> TargetSettings:
    return TargetSettings(
        name="mssql", engine="sqlserver", dsn=Secret(f"mssql://mon:s3cret@127.0.0.1:{port}/shop"),
        connect_timeout=timedelta(seconds=2), command_timeout=timedelta(seconds=2))


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts a connection, reads the login packet and hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = server.accept()
                with conn:
                    conn.settimeout(2)
                    with contextlib.suppress(OSError):
                        conn.recv(4096)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    server.close()


def _unreachable(port: int) -> TargetUnreachable:
    collector = base.create(target(port))
    try:
        with pytest.raises(TargetUnreachable) as caught:
            collector.collect(T0)
    finally:
        collector.close()
    return caught.value


def test_refused_port_is_unreachable_without_the_password() -> None:
    error = _unreachable(pgcluster.free_port())
    assert "cannot reach 127.0.0.1" in str(error) and "as mon" in str(error)
    assert "Unable to connect" in str(error) and "Connection refused" in str(error)
    assert "b'" not in str(error)  # the driver's (number, bytes) pair was unpacked
    assert "s3cret" not in "".join(traceback.format_exception(error))


def test_server_that_hangs_up_is_unreachable(silent_port: int) -> None:
    error = _unreachable(silent_port)
    assert "127.0.0.1" in str(error) and "s3cret" not in str(error)

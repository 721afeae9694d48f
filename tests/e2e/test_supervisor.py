"""`planwatch run --workers N`: a parent process starts, restarts and stops real workers that
share the targets through the PostgreSQL storage's leases, and speaks sd_notify for them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from workerproc import cli, planwatch_command, wait_for, write_config

from planwatch.devtools.pgcluster import PgCluster, free_port
from planwatch.storage import leases
from planwatch.storage.engine import Storage
from planwatch.storage.tables import workers

pytestmark = pytest.mark.integration

TARGETS = ["t1", "t2", "t3", "t4"]
WATCHDOG_S = 2


@pytest.fixture
def storage_url(pg_cluster: PgCluster, pg_database: str) -> Iterator[str]:
    pg_cluster.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", pg_database)
    storage_db = f"{pg_database}_storage"
    pg_cluster.psql(f"CREATE DATABASE {storage_db}")
    yield pg_cluster.url(storage_db)
    pg_cluster.psql(f"DROP DATABASE IF EXISTS {storage_db} WITH (FORCE)")


def config(pg_cluster: PgCluster, pg_database: str, url: str, port: int | None) -> dict[str, Any]:
    return {
        "storage": {"url": url},
        "targets": [{"name": n, "engine": "postgresql", "dsn": pg_cluster.dsn(pg_database),
                     "plan_capture": False} for n in TARGETS],
        "scheduling": {"jitter": "0s", "heartbeat": {"interval": "1s"},
                       "collection": {"interval": "1s", "startup_delay": "0s"}},
        "worker": {"name": "host-a"},
        "http": {"host": "127.0.0.1", "port": port} if port else {"enabled": False},
        "logging": {"format": "json"},
    }


class Notifications:
    """A NOTIFY_SOCKET as systemd binds it, read continuously (as systemd does: an unread
    socket fills up after ten datagrams and further notifications are dropped)."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.seen: list[list[str]] = []
        self.done = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while not self.done.is_set():
            with contextlib.suppress(TimeoutError):
                self.seen.append(self.sock.recv(4096).decode().split("\n"))

    def first(self, key: str, timeout: float = 60) -> list[str]:
        """The first notification whose first field starts with `key`."""
        return wait_for(lambda: next((m for m in list(self.seen) if m[0].startswith(key)), None),
                        timeout=timeout, what=f"{key} notification")

    def close(self) -> None:
        self.done.set()
        self.reader.join(5)
        self.sock.close()


def live_workers(st: Storage) -> dict[str, int]:
    """name -> pid of the newest Running worker of that name (a killed worker's row stays
    Running until its heartbeat is stale)."""
    with st.connect() as conn:
        rows = conn.execute(sa.select(workers.c.name, workers.c.pid)
                            .where(workers.c.status == "Running")
                            .order_by(workers.c.started_at)).all()
    return {name: pid for name, pid in rows}


def statuses(st: Storage) -> dict[int, str]:
    with st.connect() as conn:
        return dict(conn.execute(sa.select(workers.c.pid, workers.c.status)).all())  # type: ignore[arg-type]


def holders(st: Storage) -> list[str]:
    return sorted(leases.holders(st, datetime.now(UTC), "target:").values())


def start(path: Path, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([*planwatch_command(), "-c", str(path), "run", "--workers", "2"],
                                stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **env})


def test_supervisor_starts_restarts_reloads_and_stops_its_workers(
    tmp_path: Path, pg_cluster: PgCluster, pg_database: str, storage_url: str,
) -> None:
    port = free_port()
    path = write_config(tmp_path / "pw.yaml", config(pg_cluster, pg_database, storage_url, port))
    notify = Notifications(tmp_path / "notify.sock")
    log = tmp_path / "run.log"
    parent = start(path, log, {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
                               "WATCHDOG_USEC": str(WATCHDOG_S * 1_000_000)})
    st = Storage.open(storage_url)
    try:
        ready = notify.first("READY=1")
        assert ready[0] == "READY=1" and f"MAINPID={parent.pid}" in ready, ready
        assert "STATUS=2/2 workers ready" in ready
        # READY=1 came once both workers serve: registered, HTTP up on port and port + 1.
        pids = live_workers(st)
        assert set(pids) == {"host-a/1", "host-a/2"} and parent.pid not in pids.values()
        for p in (port, port + 1):
            assert httpx.get(f"http://127.0.0.1:{p}/health/live").status_code == 200
        wait_for(lambda: holders(st).count(holders(st)[0]) == 2 and len(holders(st)) == 4,
                 what="the targets split 2/2 between the two workers")

        # A worker that dies is restarted, under the same name; the targets are covered.
        os.kill(pids["host-a/1"], signal.SIGKILL)
        wait_for(lambda: live_workers(st).get("host-a/1") not in (None, pids["host-a/1"]),
                 what="host-a/1 restarted")
        # A worker that stops answering (its event loop frozen) is killed and restarted.
        os.kill(pids["host-a/2"], signal.SIGSTOP)
        wait_for(lambda: live_workers(st).get("host-a/2") not in (None, pids["host-a/2"]),
                 timeout=60, what="the stalled host-a/2 replaced")
        assert b"supervisor.worker_stalled" in log.read_bytes()
        wait_for(lambda: len(holders(st)) == 4 and len(set(holders(st))) == 2,
                 timeout=60, what="the new workers holding every target")

        # SIGHUP reaches every worker.
        parent.send_signal(signal.SIGHUP)
        wait_for(lambda: log.read_bytes().count(b'"config.reloaded"') == 2,
                 what="both workers reloaded")

        # The parent kept the unit's watchdog fed throughout.
        assert sum(m == ["WATCHDOG=1"] for m in notify.seen) > 10
        # SIGTERM: STOPPING=1, every worker stops cleanly, then the parent exits 0.
        now = live_workers(st)
        parent.send_signal(signal.SIGTERM)
        notify.first("STOPPING=1")
        assert parent.wait(timeout=20) == 0
        assert {statuses(st)[pid] for pid in now.values()} == {"Stopped"}
        assert holders(st) == []  # leases handed back at once
        assert log.read_bytes().count(b'"worker.supervisor_stop"') == 2
        assert b"Traceback" not in log.read_bytes()
    finally:
        if parent.poll() is None:
            parent.kill()
        notify.close()
        st.close()


def test_workers_stop_when_their_supervisor_dies(
    tmp_path: Path, pg_cluster: PgCluster, pg_database: str, storage_url: str,
) -> None:
    path = write_config(tmp_path / "pw.yaml", config(pg_cluster, pg_database, storage_url, None))
    st = Storage.open(storage_url)
    st.migrate()
    parent = start(path, tmp_path / "run.log", {})
    try:
        pids = wait_for(lambda: len(live_workers(st)) == 2 and live_workers(st),
                        what="two workers running")
        parent.kill()  # SIGKILL: no chance to stop anything itself
        parent.wait(timeout=10)
        wait_for(lambda: {statuses(st)[p] for p in pids.values()} == {"Stopped"},
                 timeout=30, what="the orphaned workers stopping cleanly")
        for pid in pids.values():
            wait_for(lambda pid=pid: not _alive(pid), timeout=15, what=f"pid {pid} gone")
    finally:
        if parent.poll() is None:
            parent.kill()
        st.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:  # a zombie (exited, not yet reaped) is gone too
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_sqlite_storage_refuses_several_workers(tmp_path: Path) -> None:
    path = write_config(tmp_path / "pw.yaml", {"storage": {"url": f"sqlite:///{tmp_path}/x.db"}})
    result = cli("-c", str(path), "run", "--workers", "3")
    assert result.returncode == 2
    assert "SQLite storage serves one worker, not 3" in result.stderr
    assert not (tmp_path / "x.db").exists()  # nothing started

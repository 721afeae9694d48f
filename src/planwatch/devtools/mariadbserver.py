"""Start a throwaway MariaDB server from the local binaries, for tests and fixture generation.

Mirrors `pgcluster`: a fresh datadir in a temporary directory, a free port on 127.0.0.1, the
socket inside that directory, and — when we are root — the server runs as the `mysql` OS user.
performance_schema is switched on (it is off by default in MariaDB) with the statement digest
and history consumers, because that is what the MySQL collector reads. Grant tables stay on:
tests create real users with real privileges. `root` has an empty password on this server only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
import structlog

from planwatch.devtools import pgcluster
from planwatch.errors import PlanwatchError

log = structlog.get_logger(__name__)

RESERVED_PORT = 3306  # the machine's own server; never ours


class MariaDbBinariesMissing(PlanwatchError):
    """MariaDB server binaries (mariadbd, mariadb-install-db) were not found; install them."""


def find_binaries() -> tuple[Path, Path]:
    """(server, install-db) from $PLANWATCH_MARIADB_BINDIR, the Debian layout or PATH."""
    env = os.environ.get("PLANWATCH_MARIADB_BINDIR")
    dirs = [Path(env)] if env else []
    dirs += [Path("/usr/sbin"), Path("/usr/bin"), Path("/usr/local/bin"), Path("/usr/local/sbin")]
    server = _first_existing(dirs, ("mariadbd", "mysqld")) or _which("mariadbd", "mysqld")
    install = _first_existing(dirs, ("mariadb-install-db", "mysql_install_db")) or _which(
        "mariadb-install-db", "mysql_install_db"
    )
    if server is None or install is None:
        raise MariaDbBinariesMissing()
    return server, install


def _first_existing(dirs: list[Path], names: tuple[str, ...]) -> Path | None:
    for d in dirs:
        for name in names:
            if (d / name).is_file():
                return d / name
    return None


def _which(*names: str) -> Path | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


DEFAULT_SETTINGS: dict[str, str] = {
    "performance-schema": "ON",
    "performance-schema-consumer-events-statements-current": "ON",
    "performance-schema-consumer-events-statements-history": "ON",
    "performance-schema-consumer-events-statements-history-long": "ON",
    "performance-schema-consumer-statements-digest": "ON",
    "innodb-buffer-pool-size": "64M",
    "innodb-log-file-size": "16M",
    "innodb-flush-log-at-trx-commit": "0",
    "loose-innodb-flush-method": "nosync",
    "loose-innodb-doublewrite": "0",
    "skip-name-resolve": "ON",
    "character-set-server": "utf8mb4",
    "max-connections": "100",
    "loose-feedback": "OFF",
}
"""Server options (`--key=value`); `loose-` ones are skipped by servers that lack them."""


@dataclass
class MariaDbServer:
    """A running throwaway server; use `start_server()` to get one."""

    server_bin: Path
    root: Path
    port: int
    user: str | None  # OS user the server runs as (None = ourselves)
    superuser: str = "root"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def socket_path(self) -> Path:
        return self.root / "mysqld.sock"

    @property
    def log_path(self) -> Path:
        return self.root / "error.log"

    def dsn(
        self, db: str | None = None, user: str | None = None, password: str = ""
    ) -> dict[str, Any]:
        """Keyword arguments for `pymysql.connect` over TCP (pymysql has no DSN string)."""
        params: dict[str, Any] = {
            "host": "127.0.0.1", "port": self.port, "user": user or self.superuser,
            "password": password, "charset": "utf8mb4", "autocommit": True,
        }
        if db is not None:
            params["database"] = db
        return params

    def url(self, db: str | None = None, user: str | None = None, password: str = "") -> str:
        """SQLAlchemy URL for the pymysql driver."""
        auth = f"{user or self.superuser}:{password}" if password else (user or self.superuser)
        return f"mysql+pymysql://{auth}@127.0.0.1:{self.port}/{db or ''}"

    def connect(
        self, db: str | None = None, user: str | None = None, password: str = ""
    ) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(**self.dsn(db, user, password))

    def sql(self, stmt: str, db: str | None = None) -> list[tuple[Any, ...]]:
        """Run one statement as root over TCP and return its rows (empty for DDL/DML)."""
        with contextlib.closing(self.connect(db)) as conn, conn.cursor() as cur:
            cur.execute(stmt)
            return list(cur.fetchall())

    def _socket_sql(self, stmt: str) -> None:
        conn = pymysql.connect(unix_socket=str(self.socket_path), user=self.superuser, password="")
        with contextlib.closing(conn), conn.cursor() as cur:
            cur.execute(stmt)

    def install(self, install_bin: Path) -> None:
        args = [
            str(install_bin), "--no-defaults", f"--datadir={self.datadir}",
            "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
            "--innodb-log-file-size=16M", "--innodb-buffer-pool-size=64M",
            # its own temporary directory, as the server has: the bootstrap's temporary
            # tables in the shared /tmp were once removed under it ("Unknown table
            # 'mysql.tmp_user_sys'") while other tests ran
            f"--tmpdir={self.root}",
        ]
        if self.user:
            args.append(f"--user={self.user}")
        res = subprocess.run(args, capture_output=True, text=True, check=False, cwd=self.root)
        if res.returncode != 0:
            raise PlanwatchError(f"mariadb-install-db failed: {res.stderr.strip()[-2000:]}")

    def start(self, settings: Mapping[str, str], timeout: float = 60.0) -> None:
        args = [
            str(self.server_bin), "--no-defaults", f"--datadir={self.datadir}",
            f"--socket={self.socket_path}", f"--pid-file={self.root / 'mysqld.pid'}",
            f"--port={self.port}", "--bind-address=127.0.0.1", f"--log-error={self.log_path}",
            f"--tmpdir={self.root}",
        ]
        if self.user:
            args.append(f"--user={self.user}")
        args += [f"--{k}={v}" for k, v in settings.items()]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.root
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise PlanwatchError(f"MariaDB exited during startup:\n{self.log()}")
            try:
                if self._socket_listening():
                    self._socket_sql("SELECT 1")
                    return
            except pymysql.err.OperationalError:
                pass
            if time.monotonic() > deadline:
                raise PlanwatchError(f"MariaDB did not start in {timeout}s:\n{self.log()}")
            time.sleep(0.05)

    def _socket_listening(self) -> bool:
        """Whether the server's socket takes connections yet. Asked before pymysql is: pymysql
        does not close its AF_UNIX socket when `connect()` on it fails (the garbage collector
        does, later, with a ResourceWarning)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1)
            try:
                probe.connect(str(self.socket_path))
            except OSError:
                return False
            return True

    def grant_tcp_root(self) -> None:
        """root@127.0.0.1 with an empty password, so TCP clients (pymysql, SQLAlchemy) get in."""
        self._socket_sql("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''")
        self._socket_sql("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text()[-4000:]
        except OSError:
            return ""

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_server(
    settings: Mapping[str, str] | None = None, *, os_user: str = "mysql", port: int | None = None
) -> MariaDbServer:
    """Install a datadir and start a server in a fresh temp directory; caller must `cleanup()`."""
    if port == RESERVED_PORT:
        raise PlanwatchError("refusing port 3306: it belongs to the machine's own server")
    server_bin, install_bin = find_binaries()
    root = Path(tempfile.mkdtemp(prefix="planwatch-mariadb-"))
    user = None
    if os.geteuid() == 0:
        pw = pgcluster.ensure_os_user(os_user)
        os.chown(root, pw.pw_uid, pw.pw_gid)
        os.chmod(root, 0o700)
        user = os_user
    server = MariaDbServer(server_bin, root, port or pgcluster.free_port(), user)
    try:
        server.install(install_bin)
        server.start({**DEFAULT_SETTINGS, **(settings or {})})
        server.grant_tcp_root()
    except BaseException:
        server.cleanup()
        raise
    log.info("mariadb.started", port=server.port, root=str(root), os_user=user)
    return server


@contextlib.contextmanager
def running_server(settings: Mapping[str, str] | None = None) -> Iterator[MariaDbServer]:
    server = start_server(settings)
    try:
        yield server
    finally:
        server.cleanup()

"""Start a throwaway PostgreSQL cluster from the local server binaries.

PostgreSQL refuses to run as root, so when we are root the cluster is initialised and run as
an unprivileged OS user (`postgres` by default, created when missing).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from planwatch.errors import PlanwatchError


class ServerBinariesMissing(PlanwatchError):
    """PostgreSQL server binaries (initdb, pg_ctl) were not found; install postgresql."""


def find_bindir() -> Path:
    """The newest local PostgreSQL server bin directory (Debian layout, pg_config, or PATH)."""
    env = os.environ.get("PLANWATCH_PG_BINDIR")
    candidates = [Path(env)] if env else []
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    candidates += [Path(p) for p in versions]
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(out.stdout.strip()))
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb") or "").parent)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise ServerBinariesMissing()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_os_user(name: str) -> pwd.struct_passwd:
    """The unprivileged OS user to run the server as; created (system user) when missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/bin/sh", name], check=True
        )
        return pwd.getpwnam(name)


@dataclass
class PgCluster:
    """A running throwaway cluster; use `start_cluster()` to get one."""

    bindir: Path
    root: Path
    port: int
    user: str | None  # OS user the server runs as (None = ourselves)
    superuser: str = "postgres"
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.root / "server.log"

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def dsn(self, dbname: str = "postgres", user: str | None = None, **extra: str) -> str:
        parts = [f"host=127.0.0.1 port={self.port} dbname={dbname} user={user or self.superuser}"]
        parts += [f"{k}={v}" for k, v in extra.items()]
        return " ".join(parts)

    def url(self, dbname: str = "postgres", user: str | None = None, password: str = "") -> str:
        auth = f"{user or self.superuser}:{password}" if password else (user or self.superuser)
        return f"postgresql+psycopg://{auth}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = args if self.user is None else ["runuser", "-u", self.user, "--", *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, cwd=self.root)

    def initdb(self, settings: Mapping[str, str]) -> None:
        self._run(
            [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", self.superuser,
             "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"]
        )
        conf = "\n".join(f"{k} = '{v}'" for k, v in settings.items())
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write("\n# planwatch throwaway settings\n" + conf + "\n")

    def start(self) -> None:
        res = self._run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.log_path),
             "-w", "-t", "60", "-o", f"-p {self.port} -k {self.root}", "start"],
            check=False,
        )
        if res.returncode != 0:
            raise PlanwatchError(f"PostgreSQL did not start: {res.stderr.strip()}\n{self.log()}")

    def stop(self, mode: str = "fast") -> None:
        self._run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"],
            check=False,
        )

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text()[-4000:]
        except OSError:
            return ""

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL with psql as the superuser (for fixtures and the demo's setup steps)."""
        res = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", self.superuser, "-d", dbname,
             "-c", sql],
            capture_output=True, text=True, check=False,
        )
        if res.returncode != 0:
            raise PlanwatchError(f"psql failed: {res.stderr.strip()}")
        return res.stdout

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


DEFAULT_SETTINGS: dict[str, str] = {
    "listen_addresses": "127.0.0.1",
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "64MB",
}


def start_cluster(
    settings: Mapping[str, str] | None = None, *, os_user: str = "postgres",
    port: int | None = None, bindir: Path | None = None, stat_statements: bool = True,
) -> PgCluster:
    """initdb + start a cluster in a fresh temporary directory; caller must `cleanup()`.

    `bindir` picks other server binaries (e.g. a PostgreSQL 16 build without contrib, then
    with `stat_statements=False`, which skips preloading and creating pg_stat_statements).
    """
    bindir = bindir or find_bindir()
    defaults = dict(DEFAULT_SETTINGS)
    if not stat_statements:
        defaults = {k: v for k, v in defaults.items() if "stat_statements" not in k + v}
    root = Path(tempfile.mkdtemp(prefix="planwatch-pg-"))
    user = None
    if os.geteuid() == 0:
        pw = ensure_os_user(os_user)
        os.chown(root, pw.pw_uid, pw.pw_gid)
        os.chmod(root, 0o700)
        user = os_user
    cluster = PgCluster(bindir=bindir, root=root, port=port or free_port(), user=user)
    try:
        cluster.initdb({**defaults, **(settings or {})})
        cluster.start()
        for _ in range(50):
            try:
                cluster.psql("SELECT 1")
                break
            except PlanwatchError:
                time.sleep(0.1)
        if stat_statements:
            cluster.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    except BaseException:
        cluster.cleanup()
        raise
    return cluster


@contextlib.contextmanager
def running_cluster(settings: Mapping[str, str] | None = None) -> Iterator[PgCluster]:
    cluster = start_cluster(settings)
    try:
        yield cluster
    finally:
        cluster.cleanup()

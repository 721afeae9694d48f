"""Storage databases for tests: migrated once per session, then copied for each test.

Running every migration for every storage test was most of their time. The schema is built
once per session (and per xdist worker, each of which has its own cluster and temp dir) into a
template: on PostgreSQL a database that each test clones with `CREATE DATABASE ... TEMPLATE`,
on SQLite a file each test copies. A test still gets a database of its own.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from planwatch.devtools import pgcluster
from planwatch.storage.engine import Storage

PG_TEMPLATE = "planwatch_template"


@contextlib.contextmanager
def throwaway_database(cluster: pgcluster.PgCluster, template: str | None = None) -> Iterator[str]:
    """A new database on `cluster` (a copy of `template` if given), dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    # FILE_COPY: copy the template's files (cheap with fsync off) rather than WAL-log each page.
    copy = f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""
    cluster.psql(f"CREATE DATABASE {name}{copy}")
    try:
        yield name
    finally:
        cluster.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _migrate(url: str) -> None:
    st = Storage.open(url)
    try:
        st.migrate()
    finally:
        st.close()  # no session may stay on a template that is being copied


@pytest.fixture(scope="session")
def pg_template(pg_cluster: pgcluster.PgCluster) -> str:
    """A migrated database on the session's cluster, only ever used as a template."""
    pg_cluster.psql(f"CREATE DATABASE {PG_TEMPLATE}")
    _migrate(pg_cluster.url(PG_TEMPLATE))
    return PG_TEMPLATE


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file (closed, so its WAL is checkpointed into it) to copy."""
    path = tmp_path_factory.mktemp("storage-template") / "planwatch.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def pg_database(pg_cluster: pgcluster.PgCluster) -> Iterator[str]:
    """A fresh, empty database on the throwaway cluster; yields its name."""
    with throwaway_database(pg_cluster) as name:
        yield name


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A storage URL for an empty database (no schema) on each supported backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'planwatch.db'}"
    cluster: pgcluster.PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.url(request.getfixturevalue("pg_database"))


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A storage URL for a migrated database of the test's own on each supported backend."""
    if request.param == "sqlite":
        path = tmp_path / "planwatch.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    cluster: pgcluster.PgCluster = request.getfixturevalue("pg_cluster")
    with throwaway_database(cluster, request.getfixturevalue("pg_template")) as name:
        yield cluster.url(name)


@pytest.fixture
def storage(storage_url: str) -> Iterator[Storage]:
    """The migrated storage at `storage_url`; fails the test if it leaked a pooled connection."""
    st = Storage.open(storage_url)
    try:
        yield st
        checked_out = st.engine.pool.checkedout()  # type: ignore[attr-defined]
        assert checked_out == 0, f"{checked_out} storage connection(s) leaked"
    finally:
        st.close()

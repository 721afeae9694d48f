"""Shared fixtures: a throwaway PostgreSQL cluster (session) and storage URLs per backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from planwatch.devtools import mariadbserver, pgcluster
from shared_fixtures import FIXTURES  # noqa: F401  (re-exported for older imports)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgcluster.PgCluster]:
    """One throwaway PostgreSQL (with pg_stat_statements) for the whole test session."""
    cluster = pgcluster.start_cluster()
    try:
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def pg_database(pg_cluster: pgcluster.PgCluster) -> Iterator[str]:
    """A fresh, empty database on the throwaway cluster; yields its name."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    pg_cluster.psql(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        pg_cluster.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A storage URL for an empty database on each supported backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'planwatch.db'}"
    db = request.getfixturevalue("pg_database")
    cluster: pgcluster.PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.url(db)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[mariadbserver.MariaDbServer]:
    """One throwaway MariaDB (performance_schema on, real grant tables) for the whole session."""
    server = mariadbserver.start_server()
    try:
        yield server
    finally:
        server.cleanup()

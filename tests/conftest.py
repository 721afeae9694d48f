"""Shared fixtures: throwaway PostgreSQL and MariaDB servers (one of each per session, and per
xdist worker: each picks a free port and a fresh temp dir). Storage databases are in
storage_templates.py, the marker rules in marker_policy.py, the xdist plan in xdist_plan.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from planwatch.devtools import mariadbserver, pgcluster
from shared_fixtures import FIXTURES  # noqa: F401  (re-exported for older imports)

pytest_plugins = ["leak_report", "marker_policy", "storage_templates", "xdist_plan"]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgcluster.PgCluster]:
    """One throwaway PostgreSQL (with pg_stat_statements) for the whole test session."""
    cluster = pgcluster.start_cluster()
    try:
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[mariadbserver.MariaDbServer]:
    """One throwaway MariaDB (performance_schema on, real grant tables) for the whole session."""
    server = mariadbserver.start_server()
    try:
        yield server
    finally:
        server.cleanup()

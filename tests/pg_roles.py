"""A throwaway cluster role that must log in with a password: the cluster's `trust` rule is
overridden for it alone, so wrong-password paths can be tested against the real server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg

from planwatch.devtools.pgcluster import PgCluster
from polling import wait_until


@contextmanager
def password_role(cluster: PgCluster, prefix: str, grants: Sequence[str] = ()) -> Iterator[str]:
    """A role (password `right-<role>`) that scram-sha-256 guards over TCP; dropped after."""
    role = f"{prefix}_{uuid.uuid4().hex[:10]}"
    cluster.psql(f"CREATE ROLE {role} LOGIN PASSWORD 'right-{role}'")
    for grant in grants:
        cluster.psql(f"GRANT {grant} TO {role}")
    hba = cluster.datadir / "pg_hba.conf"
    line = f"host all {role} 127.0.0.1/32 scram-sha-256\n"
    hba.write_text(line + hba.read_text())  # first match wins: only this role needs one
    cluster.psql("SELECT pg_reload_conf()")
    wait_until(lambda: refuses_wrong_password(cluster, role), 30,
               what="the server to ask for the password")
    try:
        yield role
    finally:
        hba.write_text(hba.read_text().replace(line, ""))
        cluster.psql("SELECT pg_reload_conf()")
        cluster.psql(f"DROP ROLE IF EXISTS {role}")


def refuses_wrong_password(cluster: PgCluster, role: str) -> bool:
    try:
        psycopg.connect(cluster.dsn(user=role, password="not-it"), connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        return "password authentication failed" in str(exc)
    return False

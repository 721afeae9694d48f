"""The throwaway MariaDB behaves like a server the MySQL collector will watch."""

from __future__ import annotations

import pymysql
import pytest

from leak_check import no_resource_warnings
from planwatch.devtools import mariadbserver

pytestmark = pytest.mark.integration


def test_performance_schema_is_on(mariadb_server: mariadbserver.MariaDbServer) -> None:
    assert mariadb_server.sql("SELECT @@performance_schema")[0][0] == 1
    rows = mariadb_server.sql("SELECT NAME, ENABLED FROM performance_schema.setup_consumers")
    consumers = dict(rows)
    assert consumers["statements_digest"] == "YES"
    assert consumers["events_statements_history_long"] == "YES"


def test_not_the_machine_server(mariadb_server: mariadbserver.MariaDbServer) -> None:
    assert mariadb_server.port != 3306
    assert mariadb_server.sql("SELECT @@port")[0][0] == mariadb_server.port
    assert mariadb_server.sql("SELECT @@socket")[0][0] == str(mariadb_server.socket_path)


def test_digest_summary_fills_after_a_query(mariadb_server: mariadbserver.MariaDbServer) -> None:
    mariadb_server.sql("CREATE DATABASE IF NOT EXISTS pw_digest")
    mariadb_server.sql("CREATE TABLE IF NOT EXISTS pw_digest.t (id INT PRIMARY KEY, v INT)")
    mariadb_server.sql("SELECT COUNT(*) FROM t WHERE v > 41", db="pw_digest")
    rows = mariadb_server.sql(
        "SELECT DIGEST, DIGEST_TEXT, COUNT_STAR FROM performance_schema."
        "events_statements_summary_by_digest WHERE SCHEMA_NAME = 'pw_digest'"
        " AND DIGEST_TEXT LIKE 'SELECT COUNT%'"
    )
    assert len(rows) == 1
    digest, text, count = rows[0]
    assert len(digest) == 32  # MariaDB: MD5 hex
    assert "?" in text and "41" not in text
    assert count >= 1


def test_grant_tables_are_real(mariadb_server: mariadbserver.MariaDbServer) -> None:
    mariadb_server.sql("CREATE USER IF NOT EXISTS 'pw_reader'@'127.0.0.1' IDENTIFIED BY 's3cret'")
    mariadb_server.sql("GRANT SELECT ON performance_schema.* TO 'pw_reader'@'127.0.0.1'")
    with pytest.raises(pymysql.err.OperationalError):
        mariadb_server.connect(user="pw_reader", password="wrong").close()
    conn = mariadb_server.connect(user="pw_reader", password="s3cret")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM performance_schema.setup_consumers")
            assert cur.fetchone()[0] > 0
            with pytest.raises(pymysql.err.OperationalError):
                cur.execute("CREATE DATABASE pw_forbidden")
    finally:
        conn.close()


def test_starting_a_server_leaves_no_socket_open() -> None:
    """The readiness poll connects before the server listens: no failed attempt leaks."""
    with no_resource_warnings(), mariadbserver.running_server() as server:
        assert server.sql("SELECT 1")[0][0] == 1

"""DSN parsing, error classification and the fix-it messages of the MySQL collector."""

from __future__ import annotations

import pymysql
import pytest

from planwatch.collectors import mysql, mysql_plans, mysql_session
from planwatch.config.settings import Secret, TargetSettings
from planwatch.errors import CollectorError, TargetUnreachable


def target(dsn: str) -> TargetSettings:
    return TargetSettings(name="m", engine="mysql", dsn=Secret(dsn))


def test_parse_url_with_socket_and_escaped_password() -> None:
    params = mysql_session.parse_dsn(
        target("mysql+pymysql://mon:p%40ss@db1:3307/shop?unix_socket=/run/m.sock&foo=1"))
    assert params == {"host": "db1", "port": 3307, "user": "mon", "password": "p@ss",
                      "database": "shop", "unix_socket": "/run/m.sock"}
    assert mysql_session.where(params) == "/run/m.sock"


def test_parse_defaults_and_invalid() -> None:
    params = mysql_session.parse_dsn(target("mariadb://mon@db1"))
    assert (params["port"], "database" in params) == (3306, False)
    with pytest.raises(CollectorError) as caught:
        mysql_session.parse_dsn(target("not a url"))
    assert caught.value.fatal


PARAMS = {"host": "db1", "port": 3306, "user": "mon", "password": "hunter2"}


def test_access_denied_is_fatal_and_scrubbed() -> None:
    exc = pymysql.err.OperationalError(
        1045, "Access denied for user 'mon'@'10.0.0.1' (using password: YES) hunter2")
    error = mysql_session.classify("m", PARAMS, exc, connecting=True)
    assert error.fatal and not isinstance(error, TargetUnreachable)
    assert str(error).startswith("m: authentication failed for user mon at db1:3306")
    assert "hunter2" not in str(error)


def test_network_errors_are_unreachable() -> None:
    exc = pymysql.err.OperationalError(2003, "Can't connect to MySQL server on 'db1'")
    assert isinstance(mysql_session.classify("m", PARAMS, exc), TargetUnreachable)


def test_missing_privilege_names_the_grant() -> None:
    exc = pymysql.err.OperationalError(1142, "SELECT command denied to user 'mon'")
    error = mysql_session.classify("m", PARAMS, exc)
    assert error.fatal and "GRANT SELECT ON performance_schema.* TO mon;" in str(error)


def test_statement_timeout_is_retryable() -> None:
    exc = pymysql.err.OperationalError(1969, "Query execution was interrupted")
    error = mysql_session.classify("m", PARAMS, exc)
    assert not error.fatal and "command_timeout" in str(error)


def test_fix_messages() -> None:
    assert mysql_session.PERFORMANCE_SCHEMA_OFF.startswith(
        "performance_schema is OFF on this server")
    assert "set performance_schema=ON under [mysqld]" in mysql_session.PERFORMANCE_SCHEMA_OFF
    assert "not dynamic" in mysql_session.PERFORMANCE_SCHEMA_OFF
    assert mysql_session.consumers_off(["statements_digest"]) == (
        "the performance_schema consumer(s) 'statements_digest' are disabled, so statement "
        "digests are not collected: run UPDATE performance_schema.setup_consumers SET ENABLED "
        "= 'YES' WHERE NAME IN ('statements_digest'); and add "
        "performance-schema-consumer-statements-digest=ON under [mysqld] to keep it after a "
        "restart")


@pytest.mark.parametrize(("text", "ok"), [
    ("SELECT * FROM t WHERE a = 1", True),
    ("  /* app */ (select a from t) ", True),
    ("select\n1;", True),
    ("WITH x AS (SELECT 1) DELETE FROM t", False),
    ("UPDATE t SET a = 1", False),
    ("SELECT 1; DROP TABLE t", False),
    ("/*!50000 DELETE FROM t */ SELECT 1", False),
    ("/* planwatch */ SELECT 1", False),
    ("SELECTED", False),
    (None, False),
])
def test_only_single_selects_are_explained(text: str | None, ok: bool) -> None:
    assert mysql.is_select(text) is ok


@pytest.mark.parametrize(
    ("text", "explained"),
    [
        ("SELECT id FROM orders WHERE id = 1 FOR UPDATE", "SELECT id FROM orders WHERE id = 1"),
        ("SELECT id FROM t WHERE a = 'FOR UPDATE' LOCK IN SHARE MODE;",
         "SELECT id FROM t WHERE a = 'FOR UPDATE'"),
        ("SELECT id FROM t FOR SHARE OF t SKIP LOCKED", "SELECT id FROM t"),
        ("select id from t for update nowait", "select id from t"),
        ("SELECT id FROM t WHERE a = 1", "SELECT id FROM t WHERE a = 1"),
    ],
)
def test_locking_clauses_are_not_explained(text: str, explained: str) -> None:
    assert mysql_plans.without_locking(text) == explained

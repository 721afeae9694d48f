"""One DSN reader for every collector: libpq strings and URLs in each engine's form."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from planwatch.collectors import dsn, mysql_session, pg_session, sqlserver_source
from planwatch.config.settings import Secret, TargetSettings
from planwatch.errors import CollectorError


def target(value: str, engine: str = "postgresql") -> TargetSettings:
    return TargetSettings(name="t1", engine=engine, dsn=Secret(value))


def test_libpq_key_value_and_url() -> None:
    assert dsn.libpq(target("host=db1 port=6432 dbname=shop user=app password=s3cret")) == {
        "host": "db1", "port": "6432", "dbname": "shop", "user": "app", "password": "s3cret"}
    assert dsn.libpq(target("postgresql://app:s%40cret@db1/shop")) == {
        "host": "db1", "dbname": "shop", "user": "app", "password": "s@cret"}


def test_each_engine_names_its_form() -> None:
    sqlserver = sqlserver_source.parse_dsn(target("mssql://sa:pw@sql1/sales", "sqlserver"))
    assert sqlserver == {"server": "sql1", "port": 1433, "user": "sa", "password": "pw",
                         "database": "sales"}
    mysql = mysql_session.parse_dsn(target("mysql://mon@db1/?ssl_ca=/ca.pem&x=1", "mysql"))
    assert mysql == {"host": "db1", "port": 3306, "user": "mon", "password": "",
                     "ssl_ca": "/ca.pem"}
    assert pg_session.parse_dsn(target("host=db1")) == {"host": "db1"}


@pytest.mark.parametrize(
    ("value", "read", "expected"),
    [
        ("host=db1 password s3cret", dsn.libpq, "invalid DSN: not a libpq connection string"),
        ("mysql://mon:s3cret@db1:port/x", lambda t: dsn.url(t, dsn.MYSQL),
         "invalid DSN: expected mysql://user:password@host:port/database"),
        ("s3cret no url", lambda t: dsn.url(t, dsn.SQLSERVER),
         "invalid DSN: expected mssql://user:password@host:1433/database"),
    ],
)
def test_an_unreadable_dsn_is_fatal_and_never_echoed(
    value: str, read: Callable[[TargetSettings], object], expected: str
) -> None:
    with pytest.raises(CollectorError) as caught:
        read(target(value))
    assert caught.value.fatal and expected in str(caught.value)
    assert "s3cret" not in str(caught.value)

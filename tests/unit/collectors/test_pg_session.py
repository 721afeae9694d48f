"""Connection failures are classified at the edge, and never leak the password."""

from __future__ import annotations

import pytest

from planwatch.collectors import pg_session
from planwatch.config.settings import Secret, TargetSettings
from planwatch.errors import CollectorError, TargetUnreachable

PARAMS = {"host": "db1", "port": "6432", "dbname": "shop", "user": "app", "password": "s3cret"}


def test_password_failure_is_fatal_and_names_the_user_not_the_password() -> None:
    exc = Exception(
        'connection failed: connection to server at "db1", port 6432 failed: FATAL:  '
        'password authentication failed for user "app" (dsn: host=db1 password=s3cret)'
    )
    error = pg_session.connect_error("pg1", PARAMS, exc)
    assert type(error) is CollectorError and error.fatal
    assert "authentication failed for user app at db1:6432/shop" in str(error)
    assert "s3cret" not in str(error)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('FATAL:  role "app" does not exist', "authentication failed for user app"),
        ('FATAL:  no pg_hba.conf entry for host "10.0.0.1", user "app"', "authentication failed"),
        ('FATAL:  database "shop" does not exist', "database shop does not exist at db1:6432"),
    ],
)
def test_setup_problems_are_fatal(message: str, expected: str) -> None:
    error = pg_session.connect_error("pg1", PARAMS, Exception(message))
    assert error.fatal and expected in str(error)


def test_network_problems_are_retryable() -> None:
    exc = Exception('connection to server at "db1", port 6432 failed: Connection refused\n\tIs '
                    "the server running on that host and accepting TCP/IP connections?")
    error = pg_session.connect_error("pg1", PARAMS, exc)
    assert isinstance(error, TargetUnreachable) and not error.fatal
    assert "cannot connect to db1:6432/shop as app" in str(error)


def test_unparseable_dsn_is_fatal_without_echoing_it() -> None:
    bad = TargetSettings(name="pg1", engine="postgresql", dsn=Secret("host=db1 password s3cret"))
    with pytest.raises(CollectorError) as info:
        pg_session.parse_dsn(bad)
    assert info.value.fatal and "s3cret" not in str(info.value)

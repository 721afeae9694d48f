"""The password never surfaces, whatever the real driver says: psycopg against the throwaway
PostgreSQL, pymysql against the throwaway MariaDB, pymssql (no SQL Server here: the errors of a
refused and an unresolvable server are real, a refused login is replayed in
tests/unit/test_redaction.py) and SQLAlchemy.

Each case is a wrong password, an unknown host or a DSN the driver cannot parse, taken
1. through every layer that turns a driver error into text — collector, check driver,
   storage — and then through the log (none may add the DSN or its parts), and
2. straight from the driver, with the DSN echoed beside it in every syntax a careless layer
   could add, through `redact`: the password goes, the driver's words stay.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import quote

import psycopg
import pymysql
import pytest
import sqlalchemy as sa
import structlog

from log_capture import captured_log
from pg_roles import password_role
from planwatch import dsn, redaction
from planwatch.checks import drivers
from planwatch.checks.drivers import other
from planwatch.checks.drivers.base import CheckFailed
from planwatch.collectors import base
from planwatch.config.settings import Secret, TargetSettings
from planwatch.devtools.mariadbserver import MariaDbServer
from planwatch.devtools.pgcluster import PgCluster, free_port
from planwatch.errors import PlanwatchError
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

SECRET = f"Rd{uuid.uuid4().hex[:10]}@x/y"  # `@` and `/` as URL DSNs must encode them
IN_URL = quote(SECRET, safe="")
T0 = datetime(2026, 3, 1, tzinfo=UTC)
NOWHERE = "no-such-host.invalid"

Failure = Callable[[TargetSettings], str]


def target(engine: str, dsn: str) -> TargetSettings:
    return TargetSettings(name="t", engine=engine, dsn=Secret(dsn))


def collector_error(t: TargetSettings) -> str:
    with pytest.raises(PlanwatchError) as caught:
        collector = base.create(t)
        try:
            collector.collect(T0)
        finally:
            collector.close()
    return _logged(caught.value)


def check_error(t: TargetSettings) -> str:
    return _check(lambda pool: drivers.create(t, pool, 1))


def sqlalchemy_check_error(t: TargetSettings) -> str:
    """The generic SQLAlchemy driver (any dialect whose DB-API module is installed)."""
    return _check(lambda pool: other.driver(t, pool, 1))


def storage_error(t: TargetSettings) -> str:
    with pytest.raises(PlanwatchError) as caught:
        storage = Storage.open(t.dsn.reveal())
        try:
            storage.ping()
        finally:
            storage.close()
    return _logged(caught.value)


def _check(make: Callable[[ThreadPoolExecutor], drivers.Driver]) -> str:
    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            driver = make(pool)
            try:
                await driver.run("SELECT 1", 5.0)
            finally:
                await driver.aclose()

    with pytest.raises(CheckFailed) as caught:
        asyncio.run(run())
    return _logged(caught.value)


def _logged(error: BaseException) -> str:
    """The error's text plus what the log makes of it, traceback included."""
    with captured_log() as out:
        try:
            raise error
        except PlanwatchError:
            structlog.get_logger("t").exception("failed", error=str(error))
    return f"{error}\n{out.getvalue()}"


def assert_hidden(text: str, *expected: str) -> None:
    assert SECRET not in text and IN_URL not in text
    assert SECRET.split("@")[0] not in text  # not even the part before a special character
    for part in expected:
        assert part in text, text


# -- PostgreSQL (psycopg) ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_role(pg_cluster: PgCluster) -> Iterator[str]:
    with password_role(pg_cluster, "rd") as role:
        yield role


@pytest.mark.parametrize("surface", [collector_error, check_error, storage_error])
def test_postgres_wrong_password_in_a_url(
    pg_cluster: PgCluster, pg_role: str, surface: Failure
) -> None:
    dsn = f"postgresql+psycopg://{pg_role}:{IN_URL}@127.0.0.1:{pg_cluster.port}/postgres"
    engine = "postgresql"
    assert_hidden(surface(target(engine, dsn)), "password authentication failed", pg_role)


@pytest.mark.parametrize("surface", [collector_error, check_error])
def test_postgres_wrong_password_in_key_value_pairs(
    pg_cluster: PgCluster, pg_role: str, surface: Failure
) -> None:
    dsn = (f"host=127.0.0.1 port={pg_cluster.port} dbname=postgres user={pg_role} "
           f"password='{SECRET}'")
    assert_hidden(surface(target("postgresql", dsn)), "password authentication failed")


@pytest.mark.parametrize("surface", [collector_error, check_error, storage_error])
def test_postgres_unknown_host(surface: Failure) -> None:
    dsn = f"postgresql+psycopg://app:{IN_URL}@{NOWHERE}:5432/postgres?connect_timeout=3"
    assert_hidden(surface(target("postgresql", dsn)), NOWHERE)


@pytest.mark.parametrize("surface", [collector_error, check_error])
def test_postgres_unparseable_dsn(surface: Failure) -> None:
    dsn = f"host=127.0.0.1 user=app password {SECRET}"  # libpq: missing "=" after "<secret>"
    assert_hidden(surface(target("postgresql", dsn)), "invalid DSN")


# -- MariaDB (pymysql) ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def maria_user(mariadb_server: MariaDbServer) -> str:
    user = f"rd_{uuid.uuid4().hex[:10]}"
    mariadb_server.sql(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'right-{user}'")
    return user


@pytest.mark.parametrize("surface", [collector_error, check_error, sqlalchemy_check_error])
def test_mariadb_wrong_password(
    mariadb_server: MariaDbServer, maria_user: str, surface: Failure
) -> None:
    dsn = f"mysql+pymysql://{maria_user}:{IN_URL}@127.0.0.1:{mariadb_server.port}/mysql"
    assert_hidden(surface(target("mariadb", dsn)), "Access denied", maria_user)


@pytest.mark.parametrize("surface", [collector_error, check_error, sqlalchemy_check_error])
def test_mariadb_unknown_host(surface: Failure) -> None:
    dsn = f"mysql+pymysql://mon:{IN_URL}@{NOWHERE}:3306/shop?connect_timeout=3"
    assert_hidden(surface(target("mariadb", dsn)), NOWHERE)


@pytest.mark.parametrize("surface", [collector_error, check_error])
def test_mariadb_unparseable_dsn(surface: Failure) -> None:
    dsn = f"mysql:/mon:{SECRET}@db1/shop"  # one slash: not a URL
    assert_hidden(surface(target("mariadb", dsn)), "invalid DSN")


# -- SQL Server (pymssql, no server) -------------------------------------------------------------


@pytest.mark.parametrize("surface", [collector_error, check_error])
@pytest.mark.parametrize("host", ["127.0.0.1", NOWHERE])
def test_sqlserver_unreachable(surface: Failure, host: str) -> None:
    pytest.importorskip("pymssql")
    port = free_port() if host == "127.0.0.1" else 1433
    dsn = f"mssql+pymssql://planwatch:{IN_URL}@{host}:{port}/shop"
    assert_hidden(surface(target("sqlserver", dsn)), host)


@pytest.mark.parametrize("surface", [collector_error, check_error])
def test_sqlserver_unparseable_dsn(surface: Failure) -> None:
    dsn = f"mssql:/planwatch:{SECRET}@sql1/shop"
    assert_hidden(surface(target("sqlserver", dsn)), "invalid DSN")


# -- SQLAlchemy (storage) ------------------------------------------------------------------------


def test_storage_url_that_sqlalchemy_cannot_parse() -> None:
    assert_hidden(storage_error(target("postgresql", f"postgresql+psycopg:/u:{SECRET}@h/db")),
                  "not a valid SQLAlchemy URL")


def test_storage_engine_that_cannot_be_created() -> None:
    url = f"postgresql+nodriver://u:{IN_URL}@127.0.0.1/db"
    assert_hidden(storage_error(target("postgresql", url)), "cannot create engine")


# -- 2. the drivers' own words, with the DSN echoed beside them ----------------------------------


def echoed(raw: str, dsn: str, params: dict[str, object]) -> list[str]:
    """What a careless layer could make of a driver error: the DSN and its parsed parts."""
    return [raw, f"{raw} (dsn: {dsn})", f"{raw} dsn={dsn}", f"{raw}; connect args {params!r}",
            f"{raw} {{'dsn': '{dsn}'}}"]


def assert_redacted(raw: str, dsn: str, params: dict[str, object], keep: str) -> None:
    assert keep in raw, raw  # the case provoked the failure it is about
    for text in echoed(raw, dsn, params):
        shown = redaction.redact(text)
        assert SECRET not in shown and IN_URL not in shown, shown
        assert keep in shown
        assert SECRET not in redaction.redact(text, SECRET)


def _raised(call: Callable[[], object]) -> str:
    with pytest.raises(Exception) as caught:
        call()
    return str(caught.value)


def test_psycopg_messages(pg_cluster: PgCluster, pg_role: str) -> None:
    url = f"postgresql://{pg_role}:{IN_URL}@127.0.0.1:{pg_cluster.port}/postgres"
    kv = (f"host=127.0.0.1 port={pg_cluster.port} dbname=postgres user={pg_role} "
          f"password='{SECRET}'")
    for given in (url, kv):
        raw = _raised(lambda given=given: psycopg.connect(given, connect_timeout=3))
        assert_redacted(raw, given, psycopg.conninfo.conninfo_to_dict(given),
                        "password authentication failed")
    nowhere = f"postgresql://app:{IN_URL}@{NOWHERE}/postgres"
    raw = _raised(lambda: psycopg.connect(nowhere, connect_timeout=3))
    assert_redacted(raw, nowhere, {"password": SECRET}, NOWHERE)


def test_pymysql_messages(mariadb_server: MariaDbServer, maria_user: str) -> None:
    for host, port, keep in (("127.0.0.1", mariadb_server.port, "Access denied"),
                             (NOWHERE, 3306, NOWHERE)):
        url = f"mysql://{maria_user}:{IN_URL}@{host}:{port}/mysql"
        params = dsn.url(url, dsn.MYSQL)
        raw = _raised(lambda params=params: pymysql.connect(**params, connect_timeout=3))
        assert_redacted(raw, url, params, keep)


def test_sqlalchemy_messages(mariadb_server: MariaDbServer, maria_user: str) -> None:
    url = f"mysql+pymysql://{maria_user}:{IN_URL}@127.0.0.1:{mariadb_server.port}/mysql"
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        raw = _raised(lambda: engine.connect().close())
    finally:
        engine.dispose()
    assert_redacted(raw, url, {"url": sa.make_url(url)}, "Access denied")


def test_pymssql_messages() -> None:
    pymssql = pytest.importorskip("pymssql")
    for host, keep in (("127.0.0.1", "Connection refused"), (NOWHERE, NOWHERE)):
        url = f"mssql://planwatch:{IN_URL}@{host}:{free_port()}/shop"
        params = dsn.url(url, dsn.SQLSERVER)
        raw = _raised(lambda params=params: pymssql.connect(**params, login_timeout=2))
        assert_redacted(raw, url, params, keep)

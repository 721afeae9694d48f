"""What a target's DSN says, for every engine: the driver's keyword arguments and where it points.

Two forms: libpq (`host=... dbname=...` or a `postgresql://` URL, read by psycopg; a SQLAlchemy
`+driver` suffix of the scheme is dropped) and a URL in an engine's form
(`mysql://user:pw@host:3306/db`, `mssql://...`, read by SQLAlchemy). Shared by the collectors
(through `collectors/dsn.py`) and the check drivers, which must not import each other.
`InvalidDsn` says what is expected and never repeats the DSN: it holds the password.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import conninfo
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from planwatch.errors import PlanwatchError


class InvalidDsn(PlanwatchError):
    """The DSN cannot be read."""


@dataclass(frozen=True, slots=True)
class UrlForm:
    """How one engine's driver takes a URL DSN."""

    example: str  # shown when the DSN cannot be parsed
    default_port: int
    host_key: str = "host"  # the driver's name for the host argument
    passthrough: tuple[str, ...] = ()  # query parameters handed to the driver as they are


MYSQL = UrlForm(
    "mysql://user:password@host:port/database", 3306,
    passthrough=("unix_socket", "charset", "ssl_ca", "ssl_cert", "ssl_key", "ssl_disabled",
                 "ssl_verify_cert", "ssl_verify_identity"))
"""pymysql takes host, port, user, password, database and these query parameters."""
SQLSERVER = UrlForm("mssql://user:password@host:1433/database", 1433, host_key="server")


def libpq(dsn: str) -> dict[str, Any]:
    """The DSN's libpq parameters."""
    scheme, sep, rest = dsn.partition("://")
    if sep and "+" in scheme:
        dsn = scheme.split("+", 1)[0] + "://" + rest
    try:
        return conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        raise InvalidDsn("invalid DSN: not a libpq connection string or URL") from None


def url(dsn: str, form: UrlForm) -> dict[str, Any]:
    """Driver keyword arguments from a URL DSN: host, port, user, password, the database when
    the URL names one, and `form.passthrough` query parameters."""
    try:
        parsed = make_url(dsn)
    except (ArgumentError, ValueError):
        raise InvalidDsn(f"invalid DSN: expected {form.example}") from None
    params: dict[str, Any] = {
        form.host_key: parsed.host or "localhost", "port": parsed.port or form.default_port,
        "user": parsed.username or "", "password": parsed.password or ""}
    if parsed.database:
        params["database"] = parsed.database
    for key in form.passthrough:
        value = parsed.query.get(key)
        if isinstance(value, str):
            params[key] = value
    return params


def libpq_where(params: Mapping[str, Any], dbname: str | None = None) -> str:
    """host:port/database of libpq parameters, for messages."""
    host = params.get("host") or params.get("hostaddr") or "local socket"
    port = params.get("port") or "5432"
    db = dbname or params.get("dbname") or params.get("user") or "?"
    return f"{host}:{port}/{db}"


def url_where(params: Mapping[str, Any]) -> str:
    """The socket path or host:port of URL parameters, for messages."""
    if params.get("unix_socket"):
        return str(params["unix_socket"])
    return f"{params['host']}:{params['port']}"

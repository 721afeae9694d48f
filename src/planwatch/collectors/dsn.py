"""Reading a target's DSN into driver keyword arguments, for every collector.

Two forms: libpq (`host=... dbname=...` or a `postgresql://` URL, parsed by psycopg) and a
URL (`mysql://user:pw@host:3306/db`, `mssql://...`, parsed by SQLAlchemy). An unparseable DSN
is a fatal CollectorError that shows what is expected and never the DSN itself (it holds the
password).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import conninfo
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from planwatch.config.settings import TargetSettings
from planwatch.errors import CollectorError


@dataclass(frozen=True, slots=True)
class UrlForm:
    """How one engine's driver takes a URL DSN."""

    example: str  # shown when the DSN cannot be parsed
    default_port: int
    host_key: str = "host"  # the driver's name for the host argument
    passthrough: tuple[str, ...] = ()  # query parameters handed to the driver as they are


def libpq(target: TargetSettings) -> dict[str, Any]:
    """The DSN's libpq parameters."""
    try:
        return conninfo.conninfo_to_dict(target.dsn.reveal())
    except psycopg.Error:
        raise invalid(target, "not a libpq connection string or URL") from None


def url(target: TargetSettings, form: UrlForm) -> dict[str, Any]:
    """Driver keyword arguments from a URL DSN: host, port, user, password, the database when
    the URL names one, and `form.passthrough` query parameters."""
    try:
        parsed = make_url(target.dsn.reveal())
    except (ArgumentError, ValueError):
        raise invalid(target, f"expected {form.example}") from None
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


def invalid(target: TargetSettings, expected: str) -> CollectorError:
    return CollectorError(target.name, f"invalid DSN: {expected}", fatal=True)

"""PostgreSQL DSNs: libpq `key=value` strings or URLs (`postgresql+psycopg://` too)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import conninfo

from planwatch.dsn import InvalidDsn


def params(dsn: str) -> dict[str, Any]:
    """The DSN's libpq parameters (a SQLAlchemy `+driver` suffix of the scheme is dropped)."""
    scheme, sep, rest = dsn.partition("://")
    if sep and "+" in scheme:
        dsn = scheme.split("+", 1)[0] + "://" + rest
    try:
        return conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        raise InvalidDsn("invalid DSN: not a libpq connection string or URL") from None


def where(params: Mapping[str, Any], dbname: str | None = None) -> str:
    """host:port/database, for messages (never the password)."""
    host = params.get("host") or params.get("hostaddr") or "local socket"
    port = params.get("port") or "5432"
    db = dbname or params.get("dbname") or params.get("user") or "?"
    return f"{host}:{port}/{db}"

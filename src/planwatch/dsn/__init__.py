"""What a target's DSN says, per engine: the driver's keyword arguments and where it points.

Shared by the collectors and the check drivers, which must not import each other. Errors never
repeat the DSN: it holds the password.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from planwatch.errors import PlanwatchError


class InvalidDsn(PlanwatchError):
    """The DSN cannot be parsed."""


def url_params(
    dsn: str, *, usage: str, host_key: str, default_port: int, passthrough: tuple[str, ...] = ()
) -> dict[str, Any]:
    """host, port, user, password and database of a URL DSN (SQLAlchemy's URL syntax) under
    the names the driver wants, plus the `passthrough` query parameters as they are;
    `InvalidDsn` naming the expected `usage` when unparseable."""
    try:
        url = make_url(dsn)
    except (ArgumentError, ValueError):
        raise InvalidDsn(f"invalid DSN: expected {usage}") from None
    params: dict[str, Any] = {host_key: url.host or "localhost", "port": url.port or default_port,
                              "user": url.username or "", "password": url.password or ""}
    if url.database:
        params["database"] = url.database
    for key in passthrough:
        value = url.query.get(key)
        if isinstance(value, str):
            params[key] = value
    return params

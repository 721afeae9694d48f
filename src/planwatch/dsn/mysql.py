"""MySQL / MariaDB DSNs: URLs (`mysql://user:pw@host:3306/db`, `mariadb+pymysql://...`,
`?unix_socket=/run/mysqld/mysqld.sock`) as pymysql keyword arguments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planwatch.dsn import url_params

PASSTHROUGH = ("unix_socket", "charset", "ssl_ca", "ssl_cert", "ssl_key", "ssl_disabled",
               "ssl_verify_cert", "ssl_verify_identity")
"""DSN query parameters handed to pymysql as they are."""


def params(dsn: str) -> dict[str, Any]:
    """pymysql keyword arguments; `InvalidDsn` when unparseable."""
    return url_params(dsn, usage="mysql://user:password@host:port/database", host_key="host",
                      default_port=3306, passthrough=PASSTHROUGH)


def where(params: Mapping[str, Any]) -> str:
    """The socket path or host:port, for messages."""
    if params.get("unix_socket"):
        return str(params["unix_socket"])
    return f"{params['host']}:{params['port']}"

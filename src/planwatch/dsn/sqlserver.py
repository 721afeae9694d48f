"""SQL Server DSNs: URLs (`mssql://user:password@host:1433/database`, `sqlserver://`,
`mssql+pymssql://`) as pymssql keyword arguments."""

from __future__ import annotations

from typing import Any

from planwatch.dsn import url_params


def params(dsn: str) -> dict[str, Any]:
    """pymssql keyword arguments; `InvalidDsn` when unparseable."""
    return url_params(dsn, usage="mssql://user:password@host:1433/database", host_key="server",
                      default_port=1433)

"""A target's DSN read for a collector: `planwatch.dsn` (shared with the check drivers), an
unreadable DSN being a fatal CollectorError that shows what is expected, never the DSN."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from planwatch import dsn as shared
from planwatch.config.settings import TargetSettings
from planwatch.dsn import MYSQL as MYSQL
from planwatch.dsn import SQLSERVER as SQLSERVER
from planwatch.dsn import UrlForm as UrlForm
from planwatch.dsn import libpq_where as libpq_where
from planwatch.dsn import url_where as url_where
from planwatch.errors import CollectorError


def libpq(target: TargetSettings) -> dict[str, Any]:
    """The DSN's libpq parameters."""
    return _read(target, shared.libpq)


def url(target: TargetSettings, form: UrlForm) -> dict[str, Any]:
    """Driver keyword arguments from a URL DSN in the engine's `form`."""
    return _read(target, lambda text: shared.url(text, form))


def _read(target: TargetSettings, read: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    try:
        return read(target.dsn.reveal())
    except shared.InvalidDsn as exc:
        raise CollectorError(target.name, str(exc), fatal=True) from None

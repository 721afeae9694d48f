"""Logging setup: structlog for planwatch, the standard library (uvicorn, alembic) routed
through the same handler, secrets redacted before anything is rendered.

JSON lines when asked (or when stderr is not a terminal), a console layout otherwise;
UTC ISO timestamps. Every line logged inside a job run carries `run_id`, `job` and
`target` through `bind_job` (structlog contextvars, so each asyncio task has its own).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from planwatch import redaction

_HANDLER_MARK = "_planwatch_handler"
_FOREIGN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic")
# Warnings only from loggers that write SQL or request URLs: webhook and apprise URLs carry
# their token in the path, which no pattern can tell from an ordinary path (httpx logs every
# request at INFO). Delivery failures reach the log through planwatch's own events.
_QUIET_LOGGERS = ("sqlalchemy", "httpx", "httpcore", "urllib3", "apprise")


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: withhold secret-named fields, redact secrets inside strings."""
    return {key: _redact_value(key, value) for key, value in event_dict.items()}


def _redact_value(key: str, value: Any) -> Any:
    if redaction.is_secret_key(key) and value is not None:
        return redaction.MASK
    if isinstance(value, str):
        return redaction.redact(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value("", v) for v in value]
    return value


def bind_job(run_id: int | None, job: str, target: str | None = None) -> None:
    """Tag every log line of the current task/context with the job run it belongs to."""
    structlog.contextvars.bind_contextvars(run_id=run_id, job=job, target=target)


def configure(level: str = "info", fmt: str | None = None, *, stream: TextIO | None = None) -> None:
    """Configure structlog and standard-library logging once, at start (and on reload)."""
    stream = stream if stream is not None else sys.stderr
    numeric = _level(level)
    as_json = fmt == "json" or (fmt is None and not _isatty(stream))
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=_isatty(stream))
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _FOREIGN_LOGGERS + _QUIET_LOGGERS:
        foreign = logging.getLogger(name)
        foreign.handlers.clear()
        foreign.propagate = True
        foreign.setLevel(logging.WARNING if name in _QUIET_LOGGERS else logging.NOTSET)


def _level(level: str) -> int:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    return numeric


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())

"""Everything planwatch and the libraries it drives log, at debug, as JSON lines, for the
redaction tests; the logging set-up is restored after."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from planwatch import logs


@contextmanager
def captured_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    logs.configure("debug", "json", stream=out)
    try:
        yield out
    finally:
        structlog.reset_defaults()
        root.handlers[:], root.level = handlers, level

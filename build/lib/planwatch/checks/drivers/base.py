"""What a check driver is: run one statement read-only within a timeout, or say why not.

Failures are classified at this edge, as the collectors do: `Unreachable` (the connection
failed; worth retrying with backoff), `QueryFailed` (the SQL itself failed; retrying would
fail again) and `TimedOut` (the statement was cancelled at its timeout).
"""

from __future__ import annotations

from typing import Protocol

from planwatch.checks.evaluation import RawResult
from planwatch.errors import PlanwatchError

CLIENT_GRACE_S = 1.0
"""Extra seconds the client waits past the server-side timeout before cancelling itself."""


class CheckFailed(PlanwatchError):
    """The check's statement could not be run."""


class Unreachable(CheckFailed):
    """The target could not be reached (connect failed or the connection broke)."""


class QueryFailed(CheckFailed):
    """The statement failed (syntax, missing table, write attempt, permission)."""


class TimedOut(QueryFailed):
    """The statement ran past the check's timeout and was cancelled."""

    def __init__(self, timeout_s: float, how: str) -> None:
        super().__init__(f"timed out after {timeout_s:g}s ({how})")


class Driver(Protocol):
    """One per target: owns that target's connections (a small pool) and reuses them."""

    engine: str

    async def run(self, sql: str, timeout_s: float) -> RawResult:
        """Run `sql` in a read-only transaction; raise a `CheckFailed` subclass on failure."""
        ...

    async def aclose(self) -> None:
        """Close every pooled connection."""
        ...


def flatten(message: object) -> str:
    """A driver message on one line, at most 500 characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= 500 else text[:499] + "…"

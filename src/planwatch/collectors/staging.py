"""Nothing lost when storage is down: a poll's state stands only once its results are stored.

A collector computes deltas against the last snapshot whose samples storage accepted. When the
collection job cannot store a poll it calls `rollback()`: the next poll then measures from the
snapshot before it, so its interval covers the outage as one longer interval (counters are
cumulative), and the texts and plans of the unstored poll are sent again. A poll that was not
rolled back stands (the next `begin` confirms it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from planwatch.model.samples import CapturedPlan, StatementText

S = TypeVar("S")


@dataclass
class Staging(Generic[S]):
    """The last confirmed state, the poll after it, and what to send again."""

    confirmed: S | None = None
    _staged: S | None = None
    _rolled_back: bool = False
    _texts: list[StatementText] = field(default_factory=list)
    _plans: list[CapturedPlan] = field(default_factory=list)

    def begin(self) -> tuple[list[StatementText], list[CapturedPlan]]:
        """Start a poll: confirm the previous one unless it was rolled back; returns the texts
        and plans of a rolled-back poll, to send again."""
        carried = (self._texts, self._plans) if self._rolled_back else ([], [])
        if self._staged is not None and not self._rolled_back:
            self.confirmed = self._staged
        self._staged, self._rolled_back, self._texts, self._plans = None, False, [], []
        return list(carried[0]), list(carried[1])

    def stage(self, state: S, texts: list[StatementText], plans: list[CapturedPlan]) -> None:
        """The poll's state and what it sent (including what was carried into it)."""
        self._staged, self._texts, self._plans = state, texts, plans

    def rollback(self) -> None:
        """The poll's results were not stored: measure the next poll from before it."""
        if self._staged is not None:
            self._rolled_back = True

    @property
    def staged(self) -> S | None:
        """The last poll's state, unless rolled back (what storage should keep with it)."""
        return None if self._rolled_back else self._staged

    def restore(self, state: S) -> None:
        """Measure the next poll from `state` (a snapshot kept in storage)."""
        self.confirmed, self._staged, self._rolled_back = state, None, False

    @property
    def current(self) -> S | None:
        """The state the next poll would measure from if it started now."""
        return self.confirmed if self._rolled_back or self._staged is None else self._staged


@dataclass(frozen=True, slots=True)
class SavedState:
    """What storage keeps of a poll: the snapshot it took (`data`, taken at `at`) and the time
    of the one it measured from (None: its first poll), for a compare-and-set."""

    measured_from: datetime | None
    at: datetime
    data: bytes

"""Exponential backoff as a value: the delay before retrying after N consecutive failures.

The scheduler and the circuit breaker both ask a `RetryPolicy` how long to wait; nothing
here sleeps or reads the clock. Retries of a single operation inside a job (a check's
reconnect) use `stamina` directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from planwatch.config.settings import BackoffSettings


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`initial * multiplier**(failures - 1)`, capped at `max` (30s, 60s, 120s, ... 10m)."""

    initial: timedelta = timedelta(seconds=30)
    multiplier: float = 2.0
    max: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if self.initial < timedelta(0) or self.max < self.initial:
            raise ValueError("backoff needs 0 <= initial <= max")
        if self.multiplier < 1.0:
            raise ValueError("backoff multiplier must be >= 1")

    @classmethod
    def from_settings(cls, settings: BackoffSettings) -> RetryPolicy:
        return cls(initial=settings.initial, multiplier=settings.multiplier, max=settings.max)

    def delay(self, failures: int) -> timedelta:
        """The wait after `failures` consecutive failures (0 failures → no wait)."""
        if failures <= 0:
            return timedelta(0)
        cap = self.max.total_seconds()
        try:
            seconds = self.initial.total_seconds() * self.multiplier ** (failures - 1)
        except OverflowError:
            return self.max
        return timedelta(seconds=min(seconds, cap))

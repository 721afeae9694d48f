"""Exponential backoff as a value: the delay before retrying after N consecutive failures.

The scheduler and the circuit breaker both ask a `RetryPolicy` how long to wait; nothing
here sleeps or reads the clock. Retries of a single operation inside a job (one HTTP post,
one reconnect) use `stamina` instead, see `retrying`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import ParamSpec, TypeVar

import stamina

from planwatch.config.settings import BackoffSettings

P = ParamSpec("P")
T = TypeVar("T")


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

    def retrying(
        self, on: type[Exception] | tuple[type[Exception], ...], *, attempts: int = 3
    ) -> Callable[[Callable[P, T]], Callable[P, T]]:
        """A stamina decorator retrying one operation with this policy's growth (with jitter)."""
        return stamina.retry(
            on=on,
            attempts=attempts,
            timeout=None,
            wait_initial=self.initial,
            wait_max=self.max,
            wait_exp_base=self.multiplier,
        )

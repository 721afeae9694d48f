"""Per-target circuit breaker: stop hammering a dead server, probe it now and then.

`CircuitBreaker` is an immutable value with pure methods taking an explicit `now`; each
transition returns a new breaker. `BreakerBoard` is the one mutable holder the app keeps,
keyed by target name.

closed ──N consecutive failures──► open ──cool-down elapsed──► half_open (one probe)
  ▲                                 ▲                              │
  └──────────── probe succeeds ─────┼──────────────────────────────┤
                                    └─ probe fails: longer cool-down
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from planwatch.config.settings import SchedulingSettings
from planwatch.scheduling.backoff import RetryPolicy


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class CircuitBreaker:
    """The breaker of one target. `trips` counts openings since the last success."""

    threshold: int = 3
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: datetime | None = None  # when opened, or when the current probe started
    trips: int = 0

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError("breaker threshold must be >= 1")

    @property
    def cooldown(self) -> timedelta:
        """How long the breaker stays open before the next probe; grows with each trip."""
        return self.policy.delay(self.trips)

    def allow(self, now: datetime) -> bool:
        """Whether a call may go through now (closed, or open and due for a probe)."""
        if self.state is BreakerState.CLOSED:
            return True
        # Open: the cool-down elapsed. Half-open: the probe in flight is presumed lost.
        return self.retry_in(now) <= timedelta(0)

    def acquire(self, now: datetime) -> tuple[bool, CircuitBreaker]:
        """Like `allow`, and claim the single half-open probe when one is due."""
        if not self.allow(now):
            return False, self
        if self.state is BreakerState.CLOSED:
            return True, self
        return True, replace(self, state=BreakerState.HALF_OPEN, opened_at=now)

    def record_success(self, now: datetime) -> CircuitBreaker:
        return replace(self, state=BreakerState.CLOSED, failures=0, opened_at=None, trips=0)

    def record_failure(self, now: datetime) -> CircuitBreaker:
        failures = self.failures + 1
        if self.state is BreakerState.HALF_OPEN:
            trips = self.trips + 1
            return replace(
                self, state=BreakerState.OPEN, failures=failures, opened_at=now, trips=trips
            )
        if self.state is BreakerState.OPEN:
            return replace(self, failures=failures)
        if failures >= self.threshold:
            return replace(self, state=BreakerState.OPEN, failures=failures, opened_at=now, trips=1)
        return replace(self, failures=failures)

    def retry_in(self, now: datetime) -> timedelta:
        """Time until the next call is allowed (zero when closed or a probe is due)."""
        if self.state is BreakerState.CLOSED or self.opened_at is None:
            return timedelta(0)
        return max(timedelta(0), self.opened_at + self.cooldown - now)


class BreakerBoard:
    """The breakers of all targets, for the app to hold (single event loop, no locking)."""

    def __init__(self, threshold: int = 3, policy: RetryPolicy | None = None) -> None:
        self._template = CircuitBreaker(threshold=threshold, policy=policy or RetryPolicy())
        self._breakers: dict[str, CircuitBreaker] = {}

    @classmethod
    def from_settings(cls, settings: SchedulingSettings) -> BreakerBoard:
        return cls(
            threshold=settings.breaker_failures, policy=RetryPolicy.from_settings(settings.backoff)
        )

    def get(self, name: str) -> CircuitBreaker:
        return self._breakers.get(name, self._template)

    def allow(self, name: str, now: datetime) -> bool:
        """Whether a call to `name` may go through; claims the half-open probe if due."""
        allowed, self._breakers[name] = self.get(name).acquire(now)
        return allowed

    def record_success(self, name: str, now: datetime) -> None:
        self._breakers[name] = self.get(name).record_success(now)

    def record_failure(self, name: str, now: datetime) -> None:
        self._breakers[name] = self.get(name).record_failure(now)

    def retry_in(self, name: str, now: datetime) -> timedelta:
        return self.get(name).retry_in(now)

    def retain(self, names: set[str] | frozenset[str]) -> None:
        """Forget breakers of targets no longer configured (config reload)."""
        for name in set(self._breakers) - set(names):
            del self._breakers[name]

    def snapshot(self) -> dict[str, CircuitBreaker]:
        return dict(self._breakers)


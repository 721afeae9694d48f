"""Which queries get an EXPLAIN this cycle: the capture policy every collector shares.

Three reasons to capture, two budgets:
- *suspects*: queries the analysis asked for (a regression suspect needs a plan captured after
  its slowdown began before its verdict). They go first, may use the whole per-cycle budget
  and have their own hourly allowance per query, which noise can never spend;
- *noise*: queries new to the collector (their plan is the baseline's) and queries whose
  latency really moved. Together they use at most `budget - reserve` EXPLAINs per cycle and
  `per_hour` per query.

A "move" needs evidence, not 1.5x on a handful of calls: an interval with at least
`MovePolicy.min_calls` calls whose mean is `ratio` times away from the query's running mean
of interval means (either way), by at least `min_delta_ms`, and outside the prediction
interval of the previous `min_history`+ intervals (|x - mean| >= z * std * sqrt(1 + 1/n)).
Pure policy state: no I/O, an explicit `now`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

HOUR = timedelta(hours=1)
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class MovePolicy:
    """When an interval's latency counts as a move worth a new EXPLAIN."""

    ratio: float = 2.0
    min_calls: int = 10
    min_history: int = 5
    z: float = 3.0
    min_delta_ms: float = 1.0


@dataclass(slots=True)
class _Regime:
    """Welford's running mean and variance of interval means since the last capture."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0


@dataclass
class CaptureQueue(Generic[K]):
    """Policy state for plan capture, keyed by any hashable query identity."""

    budget: int
    per_hour: int
    suspect_per_hour: int = 12
    moves: MovePolicy = MovePolicy()
    _new: dict[K, None] = field(default_factory=dict)
    _requested: dict[K, None] = field(default_factory=dict)
    _moved: dict[K, None] = field(default_factory=dict)
    _noise_attempts: dict[K, deque[datetime]] = field(default_factory=dict)
    _suspect_attempts: dict[K, deque[datetime]] = field(default_factory=dict)
    _latency: dict[K, _Regime] = field(default_factory=dict)

    @property
    def reserve(self) -> int:
        """EXPLAINs per cycle that only suspects may use."""
        return min(self.budget, max(1, math.ceil(self.budget / 4)))

    def add_new(self, keys: Iterable[K]) -> None:
        self._new.update(dict.fromkeys(keys))

    def request(self, keys: Iterable[K]) -> None:
        self._requested.update(dict.fromkeys(keys))

    def observe(self, key: K, total_ms: float, calls: int) -> bool:
        """Record one interval; True (and queued) when it is a move (see the module doc)."""
        if calls <= 0:
            return False
        regime = self._latency.setdefault(key, _Regime())
        x = total_ms / calls
        moved = calls >= self.moves.min_calls and self._moved_from(regime, x)
        regime.add(x)
        if moved:
            self._moved[key] = None
        return moved

    def _moved_from(self, regime: _Regime, x: float) -> bool:
        p = self.moves
        if regime.n < p.min_history or regime.mean <= 0 or x <= 0:
            return False
        far = x >= regime.mean * p.ratio or x * p.ratio <= regime.mean
        spread = p.z * regime.std * math.sqrt(1 + 1 / regime.n)
        delta = abs(x - regime.mean)
        return far and delta >= p.min_delta_ms and delta > spread

    def choose(self, now: datetime, weight: Mapping[K, float]) -> list[K]:
        """Keys to EXPLAIN now: suspects first, then moved, then new (heaviest first)."""
        chosen: list[K] = []
        for key in self._requested:
            if len(chosen) >= self.budget:
                return chosen
            if _allowed(self._suspect_attempts.get(key), self.suspect_per_hour, now):
                chosen.append(key)
        noise_budget = self.budget - self.reserve
        noise = 0
        new = sorted(self._new, key=lambda k: -weight.get(k, 0.0))
        for key in [*self._moved, *new]:
            if noise >= noise_budget or len(chosen) >= self.budget:
                break
            if key not in chosen and _allowed(self._noise_attempts.get(key), self.per_hour, now):
                chosen.append(key)
                noise += 1
        return chosen

    def attempted(self, key: K, now: datetime) -> None:
        """Count an EXPLAIN attempt (successful or not) against the allowance it came from,
        dequeue the key and restart its latency regime."""
        suspect = key in self._requested
        attempts = self._suspect_attempts if suspect else self._noise_attempts
        attempts.setdefault(key, deque()).append(now)
        for queue in (self._new, self._requested, self._moved):
            queue.pop(key, None)
        self._latency.pop(key, None)

    def forget(self, keys: Iterable[K]) -> None:
        """Drop queued keys that can no longer be captured (no text, not explainable)."""
        for key in keys:
            for queue in (self._new, self._requested, self._moved):
                queue.pop(key, None)

    def pending(self) -> set[K]:
        return {*self._new, *self._requested, *self._moved}

    def suspects(self) -> set[K]:
        return set(self._requested)


def _allowed(times: deque[datetime] | None, limit: int, now: datetime) -> bool:
    if times is None:
        return limit > 0
    while times and times[0] <= now - HOUR:
        times.popleft()
    return len(times) < limit

"""Wait observations per query, kept until the query has a sample to carry them.

Collectors sample what running statements wait on at each poll (`activity`: sessions seen per
event, 'CPU' when waiting on nothing) and, where the engine keeps a profile, the time waited
(`wait_ms`). A statement blocked through the whole interval finishes no call, so it has no
sample yet: its observations wait for its next sample.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
PENDING_MAX = 10_000  # queries with observations but no sample yet, at most


@dataclass
class Observations:
    """Waits of one query collected since its last sample."""

    activity: dict[str, int] = field(default_factory=dict)
    wait_ms: dict[str, float] = field(default_factory=dict)

    def extras(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.activity:
            out["activity"] = dict(sorted(self.activity.items()))
        if self.wait_ms:
            out["wait_ms"] = {k: round(v, 1) for k, v in sorted(self.wait_ms.items())}
        return out


@dataclass
class Pending(Generic[K]):
    _by_key: dict[K, Observations] = field(default_factory=dict)

    def seen(self, key: K, event: str, sessions: int) -> None:
        obs = self._get(key)
        obs.activity[event] = obs.activity.get(event, 0) + sessions

    def waited(self, key: K, event: str, ms: float) -> None:
        obs = self._get(key)
        obs.wait_ms[event] = obs.wait_ms.get(event, 0.0) + ms

    def take(self, present: Iterable[K]) -> dict[K, dict[str, Any]]:
        """The extras of the queries that have a sample now (removed from the pending set)."""
        out = {key: self._by_key.pop(key).extras() for key in present if key in self._by_key}
        if len(self._by_key) > PENDING_MAX:  # queries gone quiet for good
            self._by_key.clear()
        return out

    def _get(self, key: K) -> Observations:
        obs = self._by_key.get(key)
        if obs is None:
            obs = self._by_key[key] = Observations()
        return obs

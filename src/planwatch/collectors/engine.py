"""What an engine supplies to the shared poll cycle (`core.Cycle`): a small protocol.

An engine reads its cumulative statistics into a snapshot, turns two snapshots into per-query
deltas, reads statement texts, says which statements are workload, captures one plan at a time
and samples waits. Everything else (staging, the capture queue and its budgets, refs and
fingerprints, samples, plan evidence, health) is the cycle's. `postgres.PostgresEngine` and
`mysql.MysqlEngine` implement it.
"""

from __future__ import annotations

from collections.abc import Container, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from planwatch.collectors.pg_counters import Counters
from planwatch.errors import CollectorError
from planwatch.model.plans import IndexCandidate, PlanRequest
from planwatch.model.samples import CapturedPlan, QueryRef

K = TypeVar("K", bound=Hashable)


class Timed(Protocol):
    """A snapshot, taken `at` a moment (the end of the poll's interval)."""

    @property
    def at(self) -> datetime: ...


S = TypeVar("S", bound=Timed)


class Session(Protocol):
    """An open connection to the target and what it learned about the server."""

    def alive(self) -> bool: ...

    def close(self) -> None: ...


C = TypeVar("C", bound=Session)


@dataclass(frozen=True, slots=True)
class Deltas(Generic[K, S]):
    """One poll's per-query deltas in sample columns (`pg_counters.to_samples`: calls,
    total_exec_time in ms, rows, ...), and what the engine's delta rules found."""

    counters: Counters[K]
    baseline: S  # the snapshot the next poll subtracts
    first_poll: bool = False
    reset: bool = False
    restarted: bool = False
    evicted: int = 0  # statistics lost since the previous poll


@dataclass(frozen=True, slots=True)
class Usage:
    """The engine's part of the collector's health."""

    entries: int
    max_entries: int | None
    warnings: tuple[str, ...] = ()


class PlanUnavailable(Exception):
    """No plan can be captured for this query now; the message says why."""


class PlanSource(Protocol[K]):
    """Plan capture for one poll (built per poll: it may hold what the poll learned)."""

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        """Failures of one capture: logged and recorded, the poll goes on."""
        ...

    def key(self, request: PlanRequest) -> K | None:
        """The query a plan request names, None when it is not one of ours."""
        ...

    def capturable(self, key: K, text: str | None) -> bool:
        """False drops `key` from the capture queue."""
        ...

    def weights(self) -> Mapping[K, float]:
        """Heavier queries are captured first."""
        ...

    def capture(
        self, key: K, ref: QueryRef, text: str, candidates: tuple[IndexCandidate, ...],
        now: datetime,
    ) -> CapturedPlan:
        """One plan; raises PlanUnavailable or one of `errors` instead."""
        ...


class Engine(Protocol[K, S, C]):
    """What one engine supplies to the cycle."""

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """Driver errors a poll may raise; `classify` turns them into CollectorErrors."""
        ...

    @property
    def password(self) -> str | None:
        """Masked in every message taken from the driver."""
        ...

    def open(self) -> C: ...

    def classify(self, exc: BaseException, alive: bool) -> CollectorError:
        """The error a failed poll raises; `alive`: the session still works."""
        ...

    def snapshot(self, session: C, now: datetime) -> S: ...

    def encode(self, snapshot: S) -> bytes:
        """The snapshot as stored with its poll's samples (`snapshot_codec`)."""
        ...

    def decode(self, data: bytes) -> S:
        """A stored snapshot (`encode`'s bytes)."""
        ...

    def compute(self, prev: S | None, cur: S) -> Deltas[K, S]:
        """Deltas of `cur` against `prev` (None: first poll), by the engine's rules."""
        ...

    def texts(self, session: C, snapshot: S, known: Container[K]) -> dict[K, str | None]:
        """Texts of the snapshot's keys that are not `known` (None: not available), in the
        order they are reported."""
        ...

    def watched(self, key: K) -> bool:
        """Workload: not planwatch's own statement nor other monitoring (known by the texts
        `texts` returned), in a watched database."""
        ...

    def identify(self, key: K) -> tuple[str, str]:
        """(database, query id) of a key, as stored."""
        ...

    def plans(self, session: C, snapshot: S) -> PlanSource[K] | None:
        """This poll's plan capture; None when the server offers no plan now (the engine
        says why in its health)."""
        ...

    def waits(
        self, session: C, keys: Sequence[K], refs: Mapping[K, QueryRef]
    ) -> Mapping[K, Mapping[str, Any]]:
        """Wait extras for the samples of `keys` (`collectors.waits`)."""
        ...

    def health(self, session: C, result: Deltas[K, S]) -> Usage: ...

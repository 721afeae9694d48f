"""Per-interval statement statistics and the identity of a query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from planwatch.model.plans import PlanAttempt


@dataclass(frozen=True, slots=True)
class QueryRef:
    """Identity of a query inside planwatch: target + database + engine-native id.

    `query_id` is the engine's id as a string (pg queryid, MySQL digest, SQL Server query_hash).
    `fingerprint` hashes the normalized text so history survives id churn (upgrades, OIDs).
    """

    target: str
    database: str
    query_id: str
    fingerprint: str = ""
    # Hashed once: analysis looks refs up in dicts ~20,000 times per target and run, and
    # the generated __hash__ builds a tuple each time.
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        key = (self.target, self.database, self.query_id, self.fingerprint)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        """Field by field, the stored hash first (the generated __eq__ builds two tuples;
        analysis compares the refs of its window with those of the stored baselines)."""
        if self is other:
            return True
        if other.__class__ is not QueryRef:
            return NotImplemented
        return (self._hash == other._hash and self.query_id == other.query_id
                and self.database == other.database and self.target == other.target
                and self.fingerprint == other.fingerprint)

    def __reduce__(self) -> tuple[type[QueryRef], tuple[str, str, str, str]]:
        """Pickled by its fields: a str hash differs between processes."""
        return QueryRef, (self.target, self.database, self.query_id, self.fingerprint)


@dataclass(frozen=True, slots=True)
class StatementText:
    """A normalized statement text as the engine reports it (placeholders, no literals)."""

    ref: QueryRef
    text: str


@dataclass(slots=True, unsafe_hash=True)
class QuerySample:
    """What one query did during one collection interval (deltas, not cumulative counters).

    Treat as immutable (change a copy: `dataclasses.replace`). Not frozen because a frozen
    dataclass's __init__ sets each field through object.__setattr__: ~2.5 us a sample against
    ~0.4, and a worker builds ~50,000 per target-hour (polls and analysis windows). Hashed by
    its fields as a frozen one would be.
    """

    ref: QueryRef
    interval_start: datetime
    interval_end: datetime
    calls: int
    total_ms: float
    rows: int = 0
    blks_hit: int = 0
    blks_read: int = 0
    blks_temp: int = 0
    plan_hash: str | None = None
    extras: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    held_out: bool = False  # judged abnormal (regressed, suspect): never enters a baseline

    @property
    def plan_observed(self) -> bool:
        """True when the plan was captured in this interval, False when carried over."""
        return bool(self.extras.get("plan_observed"))

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0


@dataclass(frozen=True, slots=True)
class CollectorHealth:
    """Data-quality facts a collector observed during one poll."""

    target: str
    at: datetime
    entries: int = 0
    max_entries: int | None = None
    evicted: int = 0  # e.g. growth of pg_stat_statements_info.dealloc
    reset: bool = False  # statistics were reset since the previous poll
    restarted: bool = False  # the server restarted since the previous poll
    missed_polls: int = 0
    first_poll: bool = False
    warnings: tuple[str, ...] = ()  # e.g. "role lacks pg_read_all_stats: ..."


@dataclass(frozen=True, slots=True)
class CollectionResult:
    """Everything one collection of one target produced."""

    target: str
    interval_start: datetime | None
    interval_end: datetime
    samples: tuple[QuerySample, ...]
    texts: tuple[StatementText, ...]
    plans: tuple[CapturedPlan, ...]
    health: CollectorHealth
    plan_attempts: tuple[PlanAttempt, ...] = ()


@dataclass(frozen=True, slots=True)
class CapturedPlan:
    """A plan captured for a query, already normalized and hashed."""

    ref: QueryRef
    plan_hash: str
    plan_json: str  # normalized plan (model.plans.PlanNode as JSON) for diffing
    raw: str  # the engine's own plan text (JSON / XML)
    captured_at: datetime
    engine_plan_hash: str | None = None
    # How the plan was obtained: the role and settings it was explained with, what could not
    # be applied, and index advice (hypopg) when it was asked for.
    context: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class SampleColumns:
    """Samples of many queries as parallel arrays (numpy or lists), for fast baseline rebuilds.

    `query_index[i]` points into `refs`; rows are grouped by query (sorted by query_index).
    """

    refs: tuple[QueryRef, ...]
    query_index: Any
    calls: Any
    total_ms: Any
    rows: Any
    blks: Any  # blks_hit + blks_read
    blks_temp: Any
    plan_hash: Sequence[str | None]

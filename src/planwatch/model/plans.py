"""The engine-independent plan shape that hashing and diffing work on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class PlanNode:
    """One operator of an execution plan, reduced to what defines the plan's shape.

    `op` is the engine's operator name (Seq Scan, Index Scan, Hash Join, Clustered Index Seek,
    ALL/ref/range for MySQL access types...). `flags` carries shape facts such as
    "spill", "parallel", "lookup". Costs and estimates live in `estimates` and are never hashed.
    """

    op: str
    relation: str | None = None
    index: str | None = None
    join_type: str | None = None
    strategy: str | None = None
    flags: tuple[str, ...] = ()
    children: tuple[PlanNode, ...] = ()
    estimates: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"op": self.op}
        for key in ("relation", "index", "join_type", "strategy"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        if self.flags:
            d["flags"] = list(self.flags)
        if self.estimates:
            d["estimates"] = self.estimates
        if self.children:
            d["children"] = [c.to_dict() for c in self.children]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlanNode:
        return cls(
            op=d["op"],
            relation=d.get("relation"),
            index=d.get("index"),
            join_type=d.get("join_type"),
            strategy=d.get("strategy"),
            flags=tuple(d.get("flags", ())),
            children=tuple(cls.from_dict(c) for c in d.get("children", ())),
            estimates=dict(d.get("estimates", {})),
        )


@dataclass(frozen=True, slots=True)
class PlanChange:
    """One readable difference between two plans, e.g. 'orders: Index Scan -> Seq Scan'."""

    kind: str  # "access" | "join" | "added" | "removed" | "flag" | "order"
    relation: str | None
    before: str | None
    after: str | None

    def describe(self) -> str:
        where = f"{self.relation}: " if self.relation else ""
        if self.before and self.after:
            return f"{where}{self.before} -> {self.after}"
        if self.after:
            return f"{where}+ {self.after}"
        return f"{where}- {self.before}"


@dataclass(frozen=True, slots=True)
class IndexCandidate:
    """An index the baseline's plan used and the current plan lacks: `relation` (schema
    qualified when known) and the columns of its index condition, to test hypothetically."""

    relation: str
    columns: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.relation} ({', '.join(self.columns)})"


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """The analysis asks the target's collector for a fresh plan of one query.

    Kept in storage (any worker may hold the target's lease next); `error` is the last failed
    attempt's reason, so the verdict can say why no plan is known.
    """

    target: str
    database: str
    query_id: str
    requested_at: datetime
    reason: str = "suspect"
    candidates: tuple[IndexCandidate, ...] = ()
    attempted_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PlanAttempt:
    """The outcome of one EXPLAIN a collector attempted: a plan hash, or the error."""

    database: str
    query_id: str
    at: datetime
    plan_hash: str | None = None
    error: str | None = None
    requested: bool = False


@dataclass(frozen=True, slots=True)
class PlanSighting:
    """A plan of one query as captured: first and latest capture, and its context."""

    plan_hash: str
    first_seen: datetime
    last_seen: datetime
    context: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

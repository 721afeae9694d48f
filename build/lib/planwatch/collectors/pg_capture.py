"""Which queries get an EXPLAIN this cycle, and how a generic plan is obtained (engines.md §1.6).

`CaptureQueue` holds the policy state (no I/O, explicit `now`): queries new to the collector,
queries whose interval mean latency moved by `ratio` either way against their own running
average, and queries the analysis layer asked for; at most `budget` per cycle and
`per_hour` per query. `explain` runs the statement on a read-only connection, never ANALYZE.
"""

from __future__ import annotations

import contextlib
import re
from collections import deque
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import DictRow

from planwatch.collectors import pg_session, sqlfiles

EXPLAINABLE = frozenset({"select", "with", "insert", "update", "delete", "values"})
_LEADING = re.compile(r"^(?:\s+|/\*.*?\*/|--[^\n]*\n|\()*", re.S)
_PARAM = re.compile(r"\$(\d+)")
STATEMENT_NAME = "planwatch_plan"
HOUR = timedelta(hours=1)
K = TypeVar("K", bound=Hashable)


def explainable(text: str | None) -> bool:
    """Plain DML/SELECT texts only: one statement, starting with an explainable keyword."""
    if not text or sqlfiles.is_own(text):
        return False
    body = _LEADING.sub("", text, count=1)
    if ";" in body.rstrip().rstrip(";"):
        return False  # more than one statement, or a literal we will not risk
    word = body.split(None, 1)[0].lower() if body.split() else ""
    return word in EXPLAINABLE


def parameter_count(text: str) -> int:
    """Highest `$n` placeholder in the normalized text (one NULL is passed per `$n`)."""
    return max((int(n) for n in _PARAM.findall(text)), default=0)


@dataclass
class _Regime:
    total_ms: float = 0.0
    calls: int = 0

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0


@dataclass
class CaptureQueue(Generic[K]):
    """Policy state for plan capture, keyed by any hashable query identity."""

    budget: int
    per_hour: int
    ratio: float = 1.5
    min_delta_ms: float = 0.0  # and by at least this much per call: sub-ms jitter is no move
    _new: dict[K, None] = field(default_factory=dict)
    _requested: dict[K, None] = field(default_factory=dict)
    _moved: dict[K, None] = field(default_factory=dict)
    _attempts: dict[K, deque[datetime]] = field(default_factory=dict)
    _latency: dict[K, _Regime] = field(default_factory=dict)

    def add_new(self, keys: Iterable[K]) -> None:
        self._new.update(dict.fromkeys(keys))

    def request(self, keys: Iterable[K]) -> None:
        self._requested.update(dict.fromkeys(keys))

    def observe(self, key: K, total_ms: float, calls: int) -> bool:
        """Record one interval; True (and queued) when its mean moved ≥ ratio either way
        (and by ≥ `min_delta_ms`)."""
        if calls <= 0:
            return False
        regime = self._latency.setdefault(key, _Regime())
        mean, average = total_ms / calls, regime.mean_ms
        moved = regime.calls > 0 and average > 0 and mean > 0 and (
            mean >= average * self.ratio or mean * self.ratio <= average
        ) and abs(mean - average) >= self.min_delta_ms
        regime.total_ms += total_ms
        regime.calls += calls
        if moved:
            self._moved[key] = None
        return moved

    def choose(self, now: datetime, weight: Mapping[K, float]) -> list[K]:
        """Keys to EXPLAIN now: requested, then moved, then new (heaviest first), within limits."""
        chosen: list[K] = []
        new = sorted(self._new, key=lambda k: -weight.get(k, 0.0))
        for key in [*self._requested, *self._moved, *new]:
            if len(chosen) >= self.budget:
                break
            if key not in chosen and self._allowed(key, now):
                chosen.append(key)
        return chosen

    def attempted(self, key: K, now: datetime) -> None:
        """Count an EXPLAIN attempt (successful or not), dequeue the key, restart its average."""
        times = self._attempts.setdefault(key, deque())
        times.append(now)
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

    def _allowed(self, key: K, now: datetime) -> bool:
        times = self._attempts.get(key)
        if times is None:
            return True
        while times and times[0] <= now - HOUR:
            times.popleft()
        return len(times) < self.per_hour


def explain(conn: pg_session.Connection, text: str, version_num: int) -> Any:
    """The generic plan of a normalized statement as parsed EXPLAIN JSON."""
    statement = sql.SQL(text.rstrip().rstrip(";"))
    if version_num >= 160000:
        return _plan(conn.execute(pg_session.query("generic_plan", statement=statement)))
    name = sql.Identifier(STATEMENT_NAME)
    nulls = parameter_count(text)
    arguments = sql.SQL("({})".format(", ".join(["NULL"] * nulls)) if nulls else "")
    # Our own BEGIN/ROLLBACK (not psycopg's) so they carry the planwatch prefix.
    conn.execute(pg_session.query("begin_read_only"))
    try:
        conn.execute(pg_session.query("force_generic_plan"))
        conn.execute(pg_session.query("prepare", name=name, statement=statement))
        return _plan(conn.execute(
            pg_session.query("explain_execute", name=name, arguments=arguments)))
    finally:
        conn.execute(pg_session.query("rollback"))
        # PREPARE is not undone by ROLLBACK: always release the name.
        with contextlib.suppress(psycopg.errors.InvalidSqlStatementName):
            conn.execute(pg_session.query("deallocate", name=name))


def _plan(cursor: psycopg.Cursor[DictRow]) -> Any:
    row = cursor.fetchone()
    return next(iter(row.values())) if row else None

"""What queries wait on: sampled at each collection and attributed to the query (SPEC §11).

Two sources, both read-only:
- `pg_stat_activity` (PostgreSQL 14+, `query_id`): one snapshot per poll of the active
  sessions and their wait event ('CPU' when they wait on nothing). Stored per sample as
  `extras["activity"] = {event: sessions seen}`; shares over a window say "waiting on
  Lock/transactionid 80% of the time".
- `pg_wait_sampling` when the extension is installed: its profile counts a sample every
  `profile_period` ms per backend, so a poll's delta per (query, event) times the period is
  the time spent waiting; stored as `extras["wait_ms"] = {event: ms}`.
Observations of a query with no sample this poll (blocked, so no call finished) are kept and
attached to its next sample.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog
from psycopg import sql

from planwatch.collectors import pg_session, waits
from planwatch.collectors.deltas import QueryId

log = structlog.get_logger(__name__)

ProfileKey = tuple[int, str]  # (queryid, event)


@dataclass
class WaitSampler:
    """Per-target sampler state: the previous wait profile and observations not yet attached."""

    version_num: int
    profile_schema: str | None = None
    period_ms: float = 10.0
    _prev: dict[ProfileKey, float] | None = None
    _pending: waits.Pending[QueryId] = field(default_factory=waits.Pending)

    def poll(
        self, conn: pg_session.Connection, databases: Sequence[str], present: Iterable[QueryId]
    ) -> dict[QueryId, dict[str, Any]]:
        """Sample now; the extras to merge into this poll's samples (keys in `present`)."""
        if self.version_num >= 140000:
            rows = conn.execute(pg_session.query("activity"), {"databases": list(databases)})
            for r in rows:
                self._pending.seen((r["datname"], int(r["query_id"])), r["event"], int(r["n"]))
        present = list(present)
        if self.profile_schema is not None:
            try:
                self._profile(conn, present)
            except psycopg.Error as exc:  # e.g. no privilege on the profile: carry on without
                log.warning("collection.wait_sampling_off", error=str(exc).strip()[:200])
                self.profile_schema = None
        return self._pending.take(present)

    def _profile(self, conn: pg_session.Connection, present: Sequence[QueryId]) -> None:
        assert self.profile_schema is not None
        stmt = pg_session.query("wait_sampling_profile",
                                schema=sql.Identifier(self.profile_schema))
        now = {(int(r["queryid"]), str(r["event"])): float(r["n"]) for r in conn.execute(stmt)}
        prev, self._prev = self._prev, now
        if prev is None:
            return
        by_queryid: dict[int, list[QueryId]] = defaultdict(list)
        for key in present:
            by_queryid[key[1]].append(key)
        for delta_key, ms in profile_deltas(prev, now, self.period_ms).items():
            for key in by_queryid.get(delta_key[0], ()):
                self._pending.waited(key, delta_key[1], ms)


def profile_deltas(
    prev: Mapping[ProfileKey, float], now: Mapping[ProfileKey, float], period_ms: float
) -> dict[ProfileKey, float]:
    """Milliseconds waited per (queryid, event) between two profiles; a count that went down
    (profile reset) gives nothing for that key rather than a negative or inflated value."""
    out = {}
    for key, n in now.items():
        before = prev.get(key, 0.0)
        if n > before:
            out[key] = (n - before) * period_ms
    return out


def detect_profile(conn: pg_session.Connection) -> tuple[str | None, float]:
    """Schema of pg_wait_sampling in this database (None when not installed) and its period."""
    row = conn.execute(pg_session.query("wait_sampling_schema")).fetchone() or {}
    try:
        period = float(row.get("period_ms") or 10.0)
    except ValueError:
        period = 10.0
    return row.get("schema"), period

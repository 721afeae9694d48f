"""The PostgreSQL collector: pg_stat_statements deltas, statement texts and generic plans.

One read-only session per target (plus a few per statement database for EXPLAIN), opened
lazily and re-opened after a failure. Autocommit: no transaction stays open between polls.
Texts are read only for query ids not seen before (`showtext := false` otherwise); planwatch's
own statements (prefixed `/* planwatch */`) never become samples.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
import structlog
from psycopg import sql
from psycopg.rows import tuple_row

from planwatch.analysis import identity
from planwatch.collectors import (
    capture,
    deltas,
    pg_capture,
    pg_counters,
    pg_plans,
    pg_session,
    pg_waits,
    snapshot_codec,
    sqlfiles,
    staging,
)
from planwatch.collectors.deltas import EntryId, QueryId, QueryKey
from planwatch.collectors.pg_session import Connection, SessionFacts
from planwatch.config.settings import TargetSettings
from planwatch.errors import CollectorError, TargetUnreachable
from planwatch.model.plans import IndexCandidate, PlanAttempt, PlanRequest
from planwatch.model.samples import (
    CapturedPlan,
    CollectionResult,
    CollectorHealth,
    QueryRef,
    QuerySample,
    StatementText,
)

log = structlog.get_logger(__name__)

MAX_DATABASE_CONNECTIONS = 4  # extra sessions kept open for EXPLAIN in other databases


class PostgresCollector:
    """Collects one PostgreSQL target. Not thread-safe except `request_plans`."""

    def __init__(self, target: TargetSettings) -> None:
        self.target = target
        self._params = pg_session.parse_dsn(target)
        self._conn: Connection | None = None
        self._facts: SessionFacts | None = None
        self._db_conns: OrderedDict[str, Connection] = OrderedDict()
        # The snapshot of the last stored poll and the gap before it (see `staging`).
        self._staging: staging.Staging[tuple[deltas.Snapshot, timedelta | None]] = staging.Staging()
        self._texts: dict[QueryId, str | None] = {}
        self._refs: dict[QueryId, QueryRef] = {}  # fingerprinting every poll is costly
        self._own: set[QueryId] = set()  # planwatch's own statements (by their text)
        self._plan_hashes: dict[QueryId, str] = {}
        self._queue: capture.CaptureQueue[QueryId] = capture.CaptureQueue(
            target.plan_budget, target.explain_per_query_per_hour)
        self._requests: list[PlanRequest] = []
        self._candidates: dict[QueryId, tuple[IndexCandidate, ...]] = {}
        self._waits: pg_waits.WaitSampler | None = None
        self._lock = threading.Lock()
        self.text_fetches = 0  # statement_texts queries sent (observability and tests)
        self.explains = 0  # EXPLAINs attempted
        self._entries_total = 0

    # -- protocol ------------------------------------------------------------------------------

    def collect(self, now: datetime) -> CollectionResult:
        try:
            return self._collect(now)
        except CollectorError:
            raise
        except psycopg.Error as exc:
            message = pg_session.scrub(str(exc).strip(), self._params.get("password"))
            if "shared_preload_libraries" in message:  # created but not preloaded
                raise CollectorError(self.target.name, pg_session.NOT_LOADED, fatal=True) from None
            if self._conn is None or self._conn.broken or self._conn.closed:
                self.close()
                at = pg_session.where(self._params)
                raise TargetUnreachable(self.target.name, f"lost {at}: {message}") from None
            raise CollectorError(self.target.name, f"poll failed: {message}") from None

    def rollback(self) -> None:
        self._staging.rollback()

    def wants_state(self) -> bool:
        return self._staging.confirmed is None and self._staging.staged is None

    def restore(self, data: bytes) -> None:
        self._staging.restore((snapshot_codec.decode_pg(data), None))

    def saved_state(self) -> staging.SavedState | None:
        staged = self._staging.staged
        if staged is None:
            return None
        return staging.SavedState(self._prev.at if self._prev else None, staged[0].at,
                                  snapshot_codec.encode_pg(staged[0]))

    @property
    def _prev(self) -> deltas.Snapshot | None:
        return self._staging.confirmed[0] if self._staging.confirmed else None

    def request_plans(self, requests: Iterable[PlanRequest]) -> None:
        with self._lock:
            self._requests.extend(requests)

    def close(self) -> None:
        for conn in [self._conn, *self._db_conns.values()]:
            if conn is not None:
                conn.close()
        self._conn, self._facts = None, None
        self._db_conns.clear()

    def connection(self) -> Connection:
        """The open read-only session to the target (diagnostics and tests)."""
        return self._ensure()[0]

    # -- one poll ------------------------------------------------------------------------------

    def _collect(self, now: datetime) -> CollectionResult:
        conn, facts = self._ensure()
        carried = self._staging.begin()
        snapshot, hidden = self._snapshot(conn, facts, now)
        result = deltas.compute(self._prev, snapshot)
        texts = self._fetch_texts(conn, facts, snapshot)
        found = result.counters
        watched = [i for i, key in enumerate(found.keys) if key not in self._own]
        if len(watched) < len(found.keys):
            found = found.take(watched)
        if self.target.plan_capture:  # the capture queue's latency regimes
            total_ms, calls = found.column("total_exec_time").tolist(), found.column("calls")
            for key, ms, n in zip(found.keys, total_ms, calls.tolist(), strict=True):
                self._queue.observe(key, float(ms), int(n))
        fresh, attempts = self._capture_plans(snapshot, now)
        texts, plans = carried[0] + texts, carried[1] + fresh
        start = self._prev.at if self._prev else None
        hashes = self._plan_hashes
        samples = pg_counters.to_samples(
            [self._ref(key) for key in found.keys], found, start or now, now,
            [hashes.get(key) for key in found.keys])
        self._annotate(conn, facts, found.keys, samples, {p.ref for p in fresh})
        health = self._health(facts, snapshot, result, hidden, now)
        self._staging.stage((result.baseline, now - self._prev.at if self._prev else None),
                            texts, plans)
        log.info("collection.done", target=self.target.name, samples=len(samples),
                 texts=len(texts), plans=len(plans), reset=result.reset)
        return CollectionResult(self.target.name, start, now, tuple(samples), tuple(texts),
                                tuple(plans), health, tuple(attempts))

    def _annotate(
        self, conn: Connection, facts: SessionFacts, keys: Sequence[QueryId],
        samples: Sequence[QuerySample], observed: set[QueryRef],
    ) -> None:
        """Per-sample evidence: whether the plan was captured in this interval (else it is
        carried over from an earlier capture) and what the query waited on."""
        waits = self._waits.poll(conn, self._databases(facts), keys) if self._waits else {}
        for key, sample in zip(keys, samples, strict=True):
            if sample.ref in observed:
                sample.extras["plan_observed"] = True
            extra = waits.get(key)
            if extra:
                sample.extras.update(extra)

    def _snapshot(
        self, conn: Connection, facts: SessionFacts, now: datetime
    ) -> tuple[deltas.Snapshot, int]:
        state = conn.execute(pg_session.query(
            "server_state", schema=sql.Identifier(facts.schema))).fetchone() or {}
        info: Mapping[str, Any] = {}
        if facts.has_info:
            info = conn.execute(pg_session.query(
                "statements_info", schema=sql.Identifier(facts.schema))).fetchone() or {}
        # Plain tuples in binary format: thousands of rows, and dicts per row or parsing
        # numbers from text cost more than the server's side of the fetch.
        params = {"databases": list(self._databases(facts))}
        with conn.cursor(row_factory=tuple_row, binary=True) as cur:
            rows = cur.execute(facts.statements_sql, params).fetchall()
        visible = [r for r in rows if r[3] is not None]
        hidden = len(rows) - len(visible)  # other roles' statements, no pg_read_all_stats
        keys: list[EntryId] = [(r[1], r[2], r[3], r[4] is not False) for r in visible]
        counters = pg_counters.Counters.from_rows(
            keys, facts.counter_names, [r[6:] for r in visible], facts.integer_counters)
        since = [r[5] for r in visible] if facts.columns.has_stats_since else None
        server = deltas.ServerIdentity(state.get("started"), info.get("stats_reset"),
                                       info.get("dealloc"))
        self._entries_total = int(state.get("entries") or 0)
        snapshot = deltas.Snapshot.from_counters(now, server, counters,
                                                 [r[0] for r in visible], since)
        return snapshot, hidden

    def _fetch_texts(
        self, conn: Connection, facts: SessionFacts, snapshot: deltas.Snapshot
    ) -> list[StatementText]:
        """Texts of query ids not seen before, in one `showtext := true` query."""
        known = self._texts
        new = {QueryKey(datname, key[2])
               for datname, key in zip(snapshot.datnames, snapshot.counters.keys, strict=True)
               if (datname, key[2]) not in known}
        if not new:
            return []
        self.text_fetches += 1
        rows = conn.execute(
            pg_session.query("statement_texts", schema=sql.Identifier(facts.schema)),
            {"queryids": sorted({k.queryid for k in new}),
             "databases": list(self._databases(facts))},
        )
        found: dict[QueryKey, str] = {}
        for row in rows:
            if row["query"] is not None:
                found.setdefault(QueryKey(row["datname"], row["queryid"]), row["query"])
        texts = []
        for key in sorted(new):
            text = found.get(key)
            self._texts[key] = text
            self._refs.pop(key, None)
            if sqlfiles.is_own(text):
                self._own.add(key)
            if text is not None and not sqlfiles.is_own(text):
                texts.append(StatementText(self._ref(key), text))
                self._queue.add_new([key])
        return texts

    # -- plans ---------------------------------------------------------------------------------

    def _capture_plans(
        self, snapshot: deltas.Snapshot, now: datetime
    ) -> tuple[list[CapturedPlan], list[PlanAttempt]]:
        with self._lock:
            requests, self._requests = self._requests, []
        if not self.target.plan_capture:
            return [], []
        for r in requests:
            key = _key(r)
            if key is not None:
                self._queue.request([key])
                self._candidates[key] = r.candidates
        self._queue.forget(
            k for k in self._queue.pending() if not pg_capture.explainable(self._texts.get(k))
        )
        weight: dict[QueryId, float] = {}
        total_ms = snapshot.counters.column("total_exec_time").tolist()
        for datname, entry_key, ms in zip(snapshot.datnames, snapshot.counters.keys, total_ms,
                                          strict=True):
            qk = (datname, entry_key[2])
            weight[qk] = weight.get(qk, 0.0) + float(ms)
        chosen = self._queue.choose(now, weight)
        suspects = self._queue.suspects()
        users = _dominant_users(snapshot, set(chosen))
        captured: list[CapturedPlan] = []
        attempts: list[PlanAttempt] = []
        contexts: dict[tuple[int, str], pg_capture.ExplainContext] = {}
        for key in chosen:
            plan, error = self._capture(key, now, users.get(key), contexts)
            attempts.append(PlanAttempt(key[0], str(key[1]), now, plan.plan_hash if plan else None,
                                        error, requested=key in suspects))
            self._queue.attempted(key, now)
            self._candidates.pop(key, None)
            if plan is not None:
                self._plan_hashes[key] = plan.plan_hash
                captured.append(plan)
        return captured, attempts

    def _capture(
        self, key: QueryId, now: datetime, userid: int | None,
        contexts: dict[tuple[int, str], pg_capture.ExplainContext],
    ) -> tuple[CapturedPlan | None, str | None]:
        """One EXPLAIN in the application's context; a failure is logged and returned as the
        reason, never raised."""
        text = self._texts.get(key) or ""
        facts = self._facts
        assert facts is not None
        self.explains += 1
        try:
            context = self._context(key, userid, facts, contexts)
            conn = self._database_connection(key[0], facts)
            explained = pg_capture.explain(conn, text, facts.version_num, context)
            plan = pg_plans.capture(self._ref(key), explained.doc, now)
            return dataclasses.replace(plan, context=explained.context), None
        except (psycopg.Error, CollectorError, pg_plans.PlanParseError) as exc:
            error = pg_session.scrub(str(exc).strip(), self._params.get("password"))
            log.warning("collection.plan_capture_failed", target=self.target.name,
                        database=key[0], query_id=str(key[1]), error=error)
            return None, error.splitlines()[0][:300] if error else type(exc).__name__

    def _context(
        self, key: QueryId, userid: int | None, facts: SessionFacts,
        contexts: dict[tuple[int, str], pg_capture.ExplainContext],
    ) -> pg_capture.ExplainContext:
        """The application's role and settings for this query (once per role and database
        per poll), plus the index candidates analysis asked to test."""
        context = pg_capture.ExplainContext()
        if userid is not None:
            cached = contexts.get((userid, key[0]))
            if cached is None:
                cached = contexts[(userid, key[0])] = pg_capture.role_context(
                    self._ensure()[0], userid, key[0], superuser=facts.superuser)
            context = cached
        candidates = self._candidates.get(key, ())
        return dataclasses.replace(context, candidates=candidates) if candidates else context

    def _database_connection(self, dbname: str, facts: SessionFacts) -> Connection:
        """The main session for its own database, else a bounded LRU of extra sessions."""
        if dbname == facts.dbname:
            return self._ensure()[0]
        conn = self._db_conns.pop(dbname, None)
        if conn is None or conn.closed or conn.broken:
            conn = pg_session.connect(self.target, self._params, dbname)
        self._db_conns[dbname] = conn
        while len(self._db_conns) > MAX_DATABASE_CONNECTIONS:
            self._db_conns.popitem(last=False)[1].close()
        return conn

    # -- helpers -------------------------------------------------------------------------------

    def _ensure(self) -> tuple[Connection, SessionFacts]:
        if self._conn is not None and self._facts is not None and not (
            self._conn.closed or self._conn.broken
        ):
            return self._conn, self._facts
        self.close()
        conn = pg_session.connect(self.target, self._params)
        try:
            facts = pg_session.detect(conn, self.target.name)
        except BaseException:
            conn.close()
            raise
        log.info("collection.connected", target=self.target.name, database=facts.dbname,
                 server_version=facts.version_num, pgss_columns=len(facts.columns.counters))
        self._conn, self._facts = conn, facts
        if self._waits is None:
            schema, period = pg_waits.detect_profile(conn)
            self._waits = pg_waits.WaitSampler(facts.version_num, schema, period)
        return conn, facts

    def _databases(self, facts: SessionFacts) -> tuple[str, ...]:
        return self.target.databases or (facts.dbname,)

    def _ref(self, key: QueryId) -> QueryRef:
        ref = self._refs.get(key)
        if ref is None:
            text = self._texts.get(key)
            ref = QueryRef(self.target.name, key[0], str(key[1]),
                           identity.fingerprint(text) if text else "")
            self._refs[key] = ref
        return ref

    def _health(
        self, facts: SessionFacts, snapshot: deltas.Snapshot, result: deltas.DeltaResult,
        hidden: int, now: datetime,
    ) -> CollectorHealth:
        warnings = []
        if not facts.read_all_stats or hidden:
            warnings.append(
                f"role {facts.role} lacks pg_read_all_stats, so statements of other roles are "
                f"hidden ({hidden} entries now): GRANT pg_read_all_stats TO {facts.role};"
            )
        return CollectorHealth(
            target=self.target.name, at=now, entries=self._entries_total,
            max_entries=facts.max_entries, evicted=result.dealloc_growth, reset=result.reset,
            restarted=result.restarted, first_poll=result.first_poll,
            missed_polls=self._missed_polls(now), warnings=tuple(warnings),
        )

    def _missed_polls(self, now: datetime) -> int:
        """Polls that should have happened: gap since the last poll over the previous gap,
        counted only when the gap is more than twice the previous one (0 when unknown)."""
        previous_gap = self._staging.confirmed[1] if self._staging.confirmed else None
        if self._prev is None or not previous_gap:
            return 0
        gap = now - self._prev.at
        return int(gap / previous_gap) - 1 if gap > 2 * previous_gap else 0


def _key(request: PlanRequest) -> QueryId | None:
    try:
        return QueryKey(request.database, int(request.query_id))
    except ValueError:
        return None


def _dominant_users(snapshot: deltas.Snapshot, keys: set[QueryId]) -> dict[QueryId, int]:
    """The userid with most calls for each of `keys` (the role the application runs it as)."""
    if not keys:
        return {}
    calls = snapshot.counters.column("calls").tolist()
    best: dict[QueryId, tuple[float, int]] = {}
    for datname, entry, n in zip(snapshot.datnames, snapshot.counters.keys, calls, strict=True):
        qk = (datname, entry[2])
        if qk in keys and n > best.get(qk, (-1.0, 0))[0]:
            best[qk] = (n, entry[1])
    return {k: userid for k, (_, userid) in best.items()}

"""The MySQL 8 / MariaDB collector: performance_schema digest deltas, digest texts and plans.

One read-only session per target, opened lazily and re-opened after a failure. The digest
table is server-wide; `databases` (default: the DSN's database, else all) filters SCHEMA_NAME.
planwatch's own statements never become samples: comments are stripped from DIGEST_TEXT, so
their digests are learned from our thread's statement history, and EXPLAINs and statements on
performance_schema are monitoring, not workload. Plans: EXPLAIN FORMAT=JSON of MySQL's
QUERY_SAMPLE_TEXT, or on MariaDB of the newest matching statement in the history tables.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pymysql
import structlog

from planwatch.analysis import identity
from planwatch.collectors import (
    capture,
    mysql_deltas,
    mysql_plans,
    mysql_session,
    mysql_waits,
    pg_session,
    snapshot_codec,
    sqlfiles,
    staging,
)
from planwatch.collectors.mysql_deltas import DigestKey
from planwatch.collectors.mysql_session import Connection, SessionFacts
from planwatch.collectors.pg_counters import Counters
from planwatch.config.settings import TargetSettings
from planwatch.errors import CollectorError, TargetUnreachable
from planwatch.model.plans import PlanAttempt, PlanRequest
from planwatch.model.samples import (
    CapturedPlan,
    CollectionResult,
    CollectorHealth,
    QueryRef,
    StatementText,
)

log = structlog.get_logger(__name__)

TEXT_BATCH = 500  # digests per digest_texts query
MONITORING = ("EXPLAIN ", "SHOW GLOBAL STATUS")
"""DIGEST_TEXT prefixes that are never workload (our plan captures, status polls)."""
PERFORMANCE_SCHEMA = "`performance_schema`"  # its tables and its variables: monitoring
_LEADING = re.compile(r"^(?:\s+|/\*.*?\*/|--[^\n]*\n|#[^\n]*\n|\()*", re.S)
_SELECT = re.compile(r"select\b", re.I)
MOVED_MIN_MS = 1.0
"""A latency move re-captures the plan only when the mean per call changed by at least this
much: sub-millisecond jitter of fast digests would use up explain_per_query_per_hour."""
HISTORY_TABLES = ("events_statements_history_long", "events_statements_history")

NO_PLAN_SOURCE = (
    "MariaDB keeps no statement sample, so plans come from the statement history, whose "
    "consumers are off: no plans will be captured. Run UPDATE performance_schema.setup_consumers "
    "SET ENABLED = 'YES' WHERE NAME = 'events_statements_history_long'; (and add "
    "performance-schema-consumer-events-statements-history-long=ON under [mysqld])"
)


class MysqlCollector:
    """Collects one MySQL/MariaDB target. Not thread-safe except `request_plans`."""

    def __init__(self, target: TargetSettings) -> None:
        self.target = target
        self._params = mysql_session.parse_dsn(target)
        database = self._params.get("database")
        self._schemas = frozenset(target.databases or ((database,) if database else ()))
        self._conn: Connection | None = None
        self._facts: SessionFacts | None = None
        self._schema_in_use: str | None = None
        # The snapshot of the last stored poll and the gap before it (see `staging`).
        self._staging: staging.Staging[tuple[mysql_deltas.Snapshot, timedelta | None]] = (
            staging.Staging())
        self._texts: dict[DigestKey, str | None] = {}
        self._refs: dict[DigestKey, QueryRef] = {}
        self._own: set[str] = set()
        self._plan_hashes: dict[DigestKey, str] = {}
        self._queue: capture.CaptureQueue[DigestKey] = capture.CaptureQueue(
            target.plan_budget, target.explain_per_query_per_hour,
            moves=capture.MovePolicy(min_delta_ms=MOVED_MIN_MS))
        self._requests: list[PlanRequest] = []
        self._waits = mysql_waits.WaitSampler(self._watched, self._warn_once)
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._pending_warnings: list[str] = []
        self.explains = 0  # EXPLAINs attempted (observability and tests)

    # -- protocol ------------------------------------------------------------------------------

    def collect(self, now: datetime) -> CollectionResult:
        try:
            return self._collect(now)
        except CollectorError:
            raise
        except (pymysql.err.MySQLError, OSError) as exc:
            error = mysql_session.classify(self.target.name, self._params, exc)
            if isinstance(error, TargetUnreachable) or not self._is_open():
                self.close()
            raise error from None

    def rollback(self) -> None:
        self._staging.rollback()

    def wants_state(self) -> bool:
        return self._staging.confirmed is None and self._staging.staged is None

    def restore(self, data: bytes) -> None:
        self._staging.restore((snapshot_codec.decode_mysql(data), None))

    def saved_state(self) -> staging.SavedState | None:
        staged = self._staging.staged
        if staged is None:
            return None
        return staging.SavedState(self._prev.at if self._prev else None, staged[0].at,
                                  snapshot_codec.encode_mysql(staged[0]))

    @property
    def _prev(self) -> mysql_deltas.Snapshot | None:
        return self._staging.confirmed[0] if self._staging.confirmed else None

    def request_plans(self, requests: Iterable[PlanRequest]) -> None:
        with self._lock:
            self._requests.extend(requests)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(pymysql.err.Error):  # already closed by the server
                self._conn.close()
        self._conn, self._facts, self._schema_in_use = None, None, None

    def connection(self) -> Connection:
        """The open read-only session to the target (diagnostics and tests)."""
        return self._ensure()[0]

    # -- one poll ------------------------------------------------------------------------------

    def _collect(self, now: datetime) -> CollectionResult:
        conn, facts = self._ensure()
        carried = self._staging.begin()
        consumers = mysql_session.check_consumers(self.target.name, conn)
        snapshot = self._snapshot(conn, facts, now)
        result = mysql_deltas.compute(self._prev, snapshot)
        self._learn_own_digests(conn, facts, consumers)
        texts = self._fetch_texts(conn, snapshot)
        found = result.counters
        watched = [i for i, key in enumerate(found.keys) if self._watched(key)]
        if len(watched) < len(found.keys):
            found = found.take(watched)
        if self.target.plan_capture:  # the capture queue's latency regimes
            total_ms = (found.column("SUM_TIMER_WAIT") / mysql_deltas.PICOSECONDS_PER_MS).tolist()
            for key, ms, n in zip(found.keys, total_ms, found.column("COUNT_STAR").tolist(),
                                  strict=True):
                self._queue.observe(key, ms, int(n))
        fresh, attempts = self._capture_plans(conn, facts, consumers, snapshot, now)
        texts, plans = carried[0] + texts, carried[1] + fresh
        start = self._prev.at if self._prev else None
        hashes = self._plan_hashes
        # After the capture: a plan caught because latency moved is this interval's.
        samples = mysql_deltas.to_samples(
            [self._ref(key) for key in found.keys], found, start or now, now,
            [hashes.get(key) for key in found.keys])
        observed = {p.ref for p in fresh}
        waited = self._waits.poll(conn, consumers, found.keys, self._refs)
        for key, sample in zip(found.keys, samples, strict=True):
            if sample.ref in observed:
                sample.extras["plan_observed"] = True
            sample.extras.update(waited.get(key, {}))
        health = self._health(facts, snapshot, result, now)
        self._staging.stage((result.baseline, now - self._prev.at if self._prev else None),
                            texts, plans)
        log.info("collection.done", target=self.target.name, samples=len(samples),
                 texts=len(texts), plans=len(plans), reset=result.reset)
        return CollectionResult(self.target.name, start, now, tuple(samples), tuple(texts),
                                tuple(plans), health, tuple(attempts))

    def _snapshot(
        self, conn: Connection, facts: SessionFacts, now: datetime
    ) -> mysql_deltas.Snapshot:
        status = {str(r["Variable_name"]).lower(): r["Value"]
                  for r in mysql_session.fetch(conn, "server_state")}
        # Thousands of rows of ~20 counters: packed into one text column by the server and
        # parsed by numpy's loadtxt, they cost a fraction of the driver converting each column.
        rows = mysql_session.fetch_tuples(conn, "digests", counters=facts.packed_counters)
        try:
            values = mysql_deltas.unpack(rows, 3, len(facts.counter_names))
        except ValueError as exc:
            raise CollectorError(self.target.name, f"unreadable digest counters: {exc}") from None
        digested = [i for i, r in enumerate(rows) if r[1] is not None]
        lumped = [i for i, r in enumerate(rows) if r[1] is None]  # the DIGEST IS NULL row
        overflow = int(values[lumped, facts.counter_names.index("COUNT_STAR")].sum())
        keys = [DigestKey(rows[i][0], str(rows[i][1])) for i in digested]
        counters = Counters(keys, facts.counter_names, values[digested])
        return mysql_deltas.Snapshot(
            at=now, uptime_s=_int(status.get("uptime")),
            digest_lost=_int(status.get("performance_schema_digest_lost")),
            counters=counters, first_seen=[rows[i][2] for i in digested], overflow_calls=overflow,
        )

    def _learn_own_digests(
        self, conn: Connection, facts: SessionFacts, consumers: Mapping[str, bool]
    ) -> None:
        """Digests of our session's recent statements (the last 10 per thread, enough for the
        statements before this point; EXPLAINs are excluded by their text anyway)."""
        if consumers.get("events_statements_history") and facts.thread_id is not None:
            rows = mysql_session.fetch(conn, "own_digests", (facts.thread_id,))
            self._own.update(str(r["digest"]) for r in rows)

    def _fetch_texts(
        self, conn: Connection, snapshot: mysql_deltas.Snapshot
    ) -> list[StatementText]:
        """DIGEST_TEXT of digests not seen before, in batches."""
        new = sorted((k for k in snapshot.keys if k not in self._texts and self._in_scope(k)),
                     key=lambda k: (k.schema or "", k.digest))
        found: dict[DigestKey, str] = {}
        for i in range(0, len(new), TEXT_BATCH):
            digests = sorted({k.digest for k in new[i:i + TEXT_BATCH]})
            rows = mysql_session.fetch(conn, "digest_texts", digests,
                                       digests=", ".join(["%s"] * len(digests)))
            for row in rows:
                if row["digest_text"] is not None:
                    found[DigestKey(row["schema_name"], str(row["digest"]))] = row["digest_text"]
        texts = []
        for key in new:
            self._texts[key] = found.get(key)
            if self._watched(key) and key in found:
                texts.append(StatementText(self._ref(key), found[key]))
                self._queue.add_new([key])
        return texts

    # -- plans ---------------------------------------------------------------------------------

    def _capture_plans(
        self, conn: Connection, facts: SessionFacts, consumers: Mapping[str, bool],
        snapshot: mysql_deltas.Snapshot, now: datetime,
    ) -> tuple[list[CapturedPlan], list[PlanAttempt]]:
        with self._lock:
            requests, self._requests = self._requests, []
        if not self.target.plan_capture:
            return [], []
        history = next((t for t in HISTORY_TABLES if consumers.get(t)), None)
        if not facts.has_sample_text and history is None:
            self._warn_once(NO_PLAN_SOURCE)
            return [], []
        self._queue.request(DigestKey(r.database or None, r.query_id) for r in requests
                            if r.target == self.target.name)
        self._queue.forget(k for k in self._queue.pending()
                           if not self._watched(k) or k not in snapshot.counters.index)
        weight = dict(zip(snapshot.keys, snapshot.counters.column("SUM_TIMER_WAIT").tolist(),
                          strict=True))
        captured, attempts = [], []
        suspects = self._queue.suspects()
        for key in self._queue.choose(now, weight):
            self._queue.attempted(key, now)
            plan, error = self._capture(conn, facts, history, key, now)
            attempts.append(PlanAttempt(key.schema or "", key.digest, now,
                                        plan.plan_hash if plan else None, error,
                                        requested=key in suspects))
            if plan is not None:
                self._plan_hashes[key] = plan.plan_hash
                captured.append(plan)
        return captured, attempts

    def _capture(
        self, conn: Connection, facts: SessionFacts, history: str | None, key: DigestKey,
        now: datetime,
    ) -> tuple[CapturedPlan | None, str | None]:
        """One EXPLAIN of a real statement with this digest (the executed statement, literals
        included: MySQL plans for the values); failures are logged and returned, not raised."""
        try:
            if facts.has_sample_text:
                rows = mysql_session.fetch(conn, "sample_text", (key.digest, key.schema))
            else:
                rows = mysql_session.fetch(conn, "history_text", (key.digest, key.schema),
                                           table=history or HISTORY_TABLES[0])
            text = rows[0]["sql_text"] if rows else None
            if not is_select(text):
                why = "no statement of this digest is kept" if text is None else "not a SELECT"
                return None, why
            assert text is not None
            if key.schema and key.schema != self._schema_in_use:
                conn.select_db(key.schema)
                self._schema_in_use = key.schema
            self.explains += 1
            raw = mysql_session.fetch(conn, "explain", statement=mysql_plans.without_locking(text))
            plan = mysql_plans.captured_plan(self._ref(key), str(_first(raw[0])), now)
            return replace(plan, context={"plan_kind": "sample statement"}), None
        except (pymysql.err.MySQLError, mysql_plans.MysqlPlanError, IndexError) as exc:
            if not self._is_open():
                raise
            error = pg_session.scrub(str(exc), self._params.get("password"))
            log.warning("collection.plan_capture_failed", target=self.target.name,
                        database=key.schema or "", query_id=key.digest, error=error)
            return None, error[:300]

    # -- helpers -------------------------------------------------------------------------------

    def _ensure(self) -> tuple[Connection, SessionFacts]:
        if self._conn is not None and self._facts is not None and self._is_open():
            return self._conn, self._facts
        self.close()
        conn = mysql_session.connect(self.target, self._params)
        try:
            facts = mysql_session.prepare(conn, self.target)
        except BaseException:
            conn.close()
            raise
        log.info("collection.connected", target=self.target.name, server_version=facts.version,
                 digest_columns=len(facts.columns))
        self._conn, self._facts = conn, facts
        return conn, facts

    def _is_open(self) -> bool:
        return self._conn is not None and bool(self._conn.open)

    def _in_scope(self, key: DigestKey) -> bool:
        return not self._schemas or key.schema in self._schemas

    def _watched(self, key: DigestKey) -> bool:
        """In a watched schema and not planwatch's own or other monitoring statements."""
        if not self._in_scope(key) or key.digest in self._own:
            return False
        text = self._texts.get(key) or ""
        return not (text.startswith(MONITORING) or PERFORMANCE_SCHEMA in text)

    def _ref(self, key: DigestKey) -> QueryRef:
        ref = self._refs.get(key)
        if ref is None:  # fingerprinting every digest every poll is costly
            text = self._texts.get(key)
            ref = QueryRef(self.target.name, key.schema or "", key.digest,
                           identity.fingerprint(text) if text else "")
            if text:  # a digest whose text is still unknown gets its fingerprint later
                self._refs[key] = ref
        return ref

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self._pending_warnings.append(message)

    def _health(
        self, facts: SessionFacts, snapshot: mysql_deltas.Snapshot,
        result: mysql_deltas.DeltaResult, now: datetime,
    ) -> CollectorHealth:
        warnings, self._pending_warnings = list(self._pending_warnings), []
        lost = max(result.lost_growth, result.overflow_growth)
        if lost:
            warnings.append(
                f"the statement digest table is full ({facts.digests_size or '?'} rows, "
                f"performance_schema_digests_size): {lost} statements since the previous poll "
                "were counted without a digest; raise performance_schema_digests_size (restart)")
        return CollectorHealth(
            target=self.target.name, at=now,
            entries=len(snapshot.keys) + (1 if snapshot.overflow_calls else 0),
            max_entries=facts.digests_size, evicted=lost, reset=result.reset,
            restarted=result.restarted, first_poll=result.first_poll,
            missed_polls=self._missed_polls(now), warnings=tuple(warnings),
        )

    def _missed_polls(self, now: datetime) -> int:
        """Gap since the last poll over the previous gap, when more than twice as long."""
        previous_gap = self._staging.confirmed[1] if self._staging.confirmed else None
        if self._prev is None or not previous_gap:
            return 0
        gap = now - self._prev.at
        return int(gap / previous_gap) - 1 if gap > 2 * previous_gap else 0


def is_select(text: str | None) -> bool:
    """A single SELECT statement, not planwatch's own: the only texts we EXPLAIN. Executable
    comments (`/*! ... */`) could hide anything, so texts with one are never explained."""
    if not text or sqlfiles.is_own(text) or "/*!" in text:
        return False
    body = _LEADING.sub("", text, count=1).rstrip().rstrip(";")
    return _SELECT.match(body) is not None and ";" not in body


def _first(row: Mapping[str, Any]) -> Any:
    return next(iter(row.values()))


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

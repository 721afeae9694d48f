"""The MySQL 8 / MariaDB collector: performance_schema digest deltas, digest texts and plans.

The poll cycle is `core.Cycle`'s; this module supplies the MySQL/MariaDB engine. One read-only
session per target, opened lazily and re-opened after a failure. The digest table is
server-wide; `databases` (default: the DSN's database, else all) filters SCHEMA_NAME.
planwatch's own statements never become samples: comments are stripped from DIGEST_TEXT, so
their digests are learned from our thread's statement history, and EXPLAINs and statements on
performance_schema are monitoring, not workload. Plans: EXPLAIN FORMAT=JSON of MySQL's
QUERY_SAMPLE_TEXT, or on MariaDB of the newest matching statement in the history tables.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pymysql
import structlog

from planwatch.collectors import (
    capture,
    core,
    engine,
    mysql_deltas,
    mysql_plans,
    mysql_session,
    mysql_waits,
    snapshot_codec,
    sqlfiles,
)
from planwatch.collectors.mysql_deltas import DigestKey
from planwatch.collectors.mysql_session import Connection, SessionFacts
from planwatch.collectors.pg_counters import Counters
from planwatch.config.settings import TargetSettings
from planwatch.errors import CollectorError
from planwatch.model.plans import IndexCandidate, PlanRequest
from planwatch.model.samples import CapturedPlan, QueryRef

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


@dataclass
class MysqlSession:
    """The session, what it found out, and per-poll state of the server."""

    conn: Connection
    facts: SessionFacts
    consumers: dict[str, bool] = field(default_factory=dict)  # read at each poll
    schema_in_use: str | None = None

    def alive(self) -> bool:
        return bool(self.conn.open)

    def close(self) -> None:
        with contextlib.suppress(pymysql.err.Error):  # already closed by the server
            self.conn.close()


class MysqlEngine:
    """performance_schema digests for `core.Cycle`: SQL in sql/mysql.sql, rows as counters."""

    errors = (pymysql.err.MySQLError, OSError)

    def __init__(self, target: TargetSettings) -> None:
        self.target = target
        self.params = mysql_session.parse_dsn(target)
        database = self.params.get("database")
        self._schemas = frozenset(target.databases or ((database,) if database else ()))
        self._own: set[str] = set()  # digests of planwatch's own statements
        self._monitoring: set[DigestKey] = set()  # known by their text
        self._entries = 0  # digest rows at the last snapshot
        self.warnings = core.Warnings()
        self._waits = mysql_waits.WaitSampler(self.watched, self.warnings.once)
        self.explains = 0  # EXPLAINs sent (observability and tests)

    encode = staticmethod(snapshot_codec.encode_mysql)
    decode = staticmethod(snapshot_codec.decode_mysql)

    @property
    def password(self) -> str | None:
        return self.params.get("password")

    def open(self) -> MysqlSession:
        conn = mysql_session.connect(self.target, self.params)
        try:
            facts = mysql_session.prepare(conn, self.target)
        except BaseException:
            conn.close()
            raise
        log.info("collection.connected", target=self.target.name, server_version=facts.version,
                 digest_columns=len(facts.columns))
        return MysqlSession(conn, facts)

    def classify(self, exc: BaseException, alive: bool) -> CollectorError:
        return mysql_session.classify(self.target.name, self.params, exc)

    def snapshot(self, session: MysqlSession, now: datetime) -> mysql_deltas.Snapshot:
        conn, facts = session.conn, session.facts
        session.consumers = mysql_session.check_consumers(self.target.name, conn)
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
        self._learn_own_digests(session)
        self._entries = len(keys) + (1 if overflow else 0)
        return mysql_deltas.Snapshot(
            at=now, uptime_s=_int(status.get("uptime")),
            digest_lost=_int(status.get("performance_schema_digest_lost")),
            counters=Counters(keys, facts.counter_names, values[digested]),
            first_seen=[rows[i][2] for i in digested], overflow_calls=overflow,
        )

    def _learn_own_digests(self, session: MysqlSession) -> None:
        """Digests of our session's recent statements (the last 10 per thread, enough for the
        statements before this point; EXPLAINs are excluded by their text anyway)."""
        thread_id = session.facts.thread_id
        if session.consumers.get("events_statements_history") and thread_id is not None:
            rows = mysql_session.fetch(session.conn, "own_digests", (thread_id,))
            self._own.update(str(r["digest"]) for r in rows)

    def compute(
        self, prev: mysql_deltas.Snapshot | None, cur: mysql_deltas.Snapshot
    ) -> engine.Deltas[DigestKey, mysql_deltas.Snapshot]:
        r = mysql_deltas.compute(prev, cur)
        return engine.Deltas(mysql_deltas.sample_columns(r.counters), r.baseline, r.first_poll,
                           r.reset, r.restarted, max(r.lost_growth, r.overflow_growth))

    def texts(
        self, session: MysqlSession, snapshot: mysql_deltas.Snapshot, known: Container[DigestKey]
    ) -> dict[DigestKey, str | None]:
        """DIGEST_TEXT of digests not seen before, in batches."""
        new = sorted((k for k in snapshot.keys if k not in known and self._in_scope(k)),
                     key=lambda k: (k.schema or "", k.digest))
        found: dict[DigestKey, str] = {}
        for i in range(0, len(new), TEXT_BATCH):
            digests = sorted({k.digest for k in new[i:i + TEXT_BATCH]})
            rows = mysql_session.fetch(session.conn, "digest_texts", digests,
                                       digests=", ".join(["%s"] * len(digests)))
            for row in rows:
                if row["digest_text"] is not None:
                    found[DigestKey(row["schema_name"], str(row["digest"]))] = row["digest_text"]
        self._monitoring.update(k for k, text in found.items() if is_monitoring(text))
        return {key: found.get(key) for key in new}

    def watched(self, key: DigestKey) -> bool:
        """In a watched schema and not planwatch's own or other monitoring statements."""
        return self._in_scope(key) and key.digest not in self._own and (
            key not in self._monitoring)

    def _in_scope(self, key: DigestKey) -> bool:
        return not self._schemas or key.schema in self._schemas

    def identify(self, key: DigestKey) -> tuple[str, str]:
        return key.schema or "", key.digest

    def plans(self, session: MysqlSession, snapshot: mysql_deltas.Snapshot) -> _Plans | None:
        history = next((t for t in HISTORY_TABLES if session.consumers.get(t)), None)
        if not session.facts.has_sample_text and history is None:
            self.warnings.once(NO_PLAN_SOURCE)
            return None
        return _Plans(self, session, snapshot, history or HISTORY_TABLES[0])

    def waits(
        self, session: MysqlSession, keys: Sequence[DigestKey],
        refs: Mapping[DigestKey, QueryRef],
    ) -> Mapping[DigestKey, Mapping[str, Any]]:
        return self._waits.poll(session.conn, session.consumers, keys, refs)

    def health(
        self, session: MysqlSession, result: engine.Deltas[DigestKey, mysql_deltas.Snapshot]
    ) -> engine.Usage:
        warnings, size = self.warnings.take(), session.facts.digests_size
        if result.evicted:
            warnings.append(
                f"the statement digest table is full ({size or '?'} rows, "
                f"performance_schema_digests_size): {result.evicted} statements since the "
                "previous poll were counted without a digest; raise "
                "performance_schema_digests_size (restart)")
        return engine.Usage(self._entries, size, tuple(warnings))


@dataclass
class _Plans:
    """Plans of real statements for one poll: MySQL's QUERY_SAMPLE_TEXT, or on MariaDB the
    newest statement of the digest in the `history` table."""

    owner: MysqlEngine
    session: MysqlSession
    snapshot: mysql_deltas.Snapshot
    history: str

    errors = (pymysql.err.MySQLError, mysql_plans.MysqlPlanError, IndexError)

    def key(self, request: PlanRequest) -> DigestKey | None:
        if request.target != self.owner.target.name:
            return None
        return DigestKey(request.database or None, request.query_id)

    def capturable(self, key: DigestKey, text: str | None) -> bool:
        return self.owner.watched(key) and key in self.snapshot.counters.index

    def weights(self) -> dict[DigestKey, float]:
        timers = self.snapshot.counters.column("SUM_TIMER_WAIT").tolist()
        return dict(zip(self.snapshot.keys, timers, strict=True))

    def capture(
        self, key: DigestKey, ref: QueryRef, text: str, candidates: tuple[IndexCandidate, ...],
        now: datetime,
    ) -> CapturedPlan:
        """One EXPLAIN of a real statement with this digest (the executed statement, literals
        included: MySQL plans for the values)."""
        conn, session = self.session.conn, self.session
        if session.facts.has_sample_text:
            rows = mysql_session.fetch(conn, "sample_text", (key.digest, key.schema))
        else:
            rows = mysql_session.fetch(conn, "history_text", (key.digest, key.schema),
                                       table=self.history)
        statement = rows[0]["sql_text"] if rows else None
        if statement is None:
            raise engine.PlanUnavailable("no statement of this digest is kept")
        if not is_select(statement):
            raise engine.PlanUnavailable("not a SELECT")
        if key.schema and key.schema != session.schema_in_use:
            conn.select_db(key.schema)
            session.schema_in_use = key.schema
        self.owner.explains += 1
        raw = mysql_session.fetch(conn, "explain",
                                  statement=mysql_plans.without_locking(statement))
        plan = mysql_plans.captured_plan(ref, str(_first(raw[0])), now)
        return replace(plan, context={"plan_kind": "sample statement"})


class MysqlCollector(core.Cycle[DigestKey, mysql_deltas.Snapshot, MysqlSession]):
    """Collects one MySQL/MariaDB target. Not thread-safe except `request_plans`."""

    def __init__(self, target: TargetSettings) -> None:
        self._mysql = MysqlEngine(target)
        super().__init__(target, self._mysql, capture.MovePolicy(min_delta_ms=MOVED_MIN_MS))

    @property
    def explains(self) -> int:
        return self._mysql.explains

    def connection(self) -> Connection:
        """The open read-only session to the target (diagnostics and tests)."""
        return self._ensure().conn


def is_monitoring(text: str) -> bool:
    """Our plan captures and status polls, and statements on performance_schema."""
    return text.startswith(MONITORING) or PERFORMANCE_SCHEMA in text


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

"""The PostgreSQL collector: pg_stat_statements deltas, statement texts and generic plans.

The poll cycle is `core.Cycle`'s; this module supplies the PostgreSQL engine. One read-only
session per target (plus a few per statement database for EXPLAIN), opened lazily and
re-opened after a failure. Autocommit: no transaction stays open between polls. Texts are read
only for query ids not seen before (`showtext := false` otherwise); planwatch's own statements
(prefixed `/* planwatch */`) never become samples.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import OrderedDict
from collections.abc import Container, Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
import structlog
from psycopg import sql
from psycopg.rows import tuple_row

from planwatch.collectors import (
    core,
    deltas,
    engine,
    pg_capture,
    pg_counters,
    pg_plans,
    pg_session,
    pg_waits,
    snapshot_codec,
    sqlfiles,
)
from planwatch.collectors.deltas import EntryId, QueryId, QueryKey
from planwatch.collectors.pg_session import Connection, SessionFacts
from planwatch.config.settings import TargetSettings
from planwatch.errors import CollectorError, TargetUnreachable
from planwatch.model.plans import IndexCandidate, PlanRequest
from planwatch.model.samples import CapturedPlan, QueryRef
from planwatch.redaction import redact

log = structlog.get_logger(__name__)

MAX_DATABASE_CONNECTIONS = 4  # extra sessions kept open for EXPLAIN in other databases


@dataclasses.dataclass
class PgSession:
    """The main session, what it found out, and sessions to other databases for EXPLAIN."""

    conn: Connection
    facts: SessionFacts
    target: TargetSettings
    params: Mapping[str, Any]
    others: OrderedDict[str, Connection] = dataclasses.field(default_factory=OrderedDict)

    def alive(self) -> bool:
        return not (self.conn.closed or self.conn.broken)

    def close(self) -> None:
        for conn in [self.conn, *self.others.values()]:
            conn.close()
        self.others.clear()

    def databases(self) -> tuple[str, ...]:
        return self.target.databases or (self.facts.dbname,)

    def database_connection(self, dbname: str) -> Connection:
        """The main session for its own database, else a bounded LRU of extra sessions."""
        if dbname == self.facts.dbname:
            return self.conn
        conn = self.others.pop(dbname, None)
        if conn is None or conn.closed or conn.broken:
            conn = pg_session.connect(self.target, self.params, dbname)
        self.others[dbname] = conn
        while len(self.others) > MAX_DATABASE_CONNECTIONS:
            self.others.popitem(last=False)[1].close()
        return conn


class PostgresEngine:
    """pg_stat_statements for `core.Cycle`: SQL in sql/postgres.sql, rows as counters."""

    errors = (psycopg.Error,)

    def __init__(self, target: TargetSettings) -> None:
        self.target = target
        self.params = pg_session.parse_dsn(target)
        self._waits: pg_waits.WaitSampler | None = None
        self._own: set[QueryId] = set()  # planwatch's own statements (by their text)
        self._entries = 0  # pg_stat_statements entries at the last snapshot
        self._hidden = 0  # of which other roles' statements this role cannot see
        self.text_fetches = 0  # statement_texts queries sent (observability and tests)
        self.explains = 0  # EXPLAINs attempted

    encode = staticmethod(snapshot_codec.encode_pg)
    decode = staticmethod(snapshot_codec.decode_pg)

    @property
    def password(self) -> str | None:
        return self.params.get("password")

    def open(self) -> PgSession:
        conn = pg_session.connect(self.target, self.params)
        try:
            facts = pg_session.detect(conn, self.target.name)
            if self._waits is None:
                schema, period = pg_waits.detect_profile(conn)
                self._waits = pg_waits.WaitSampler(facts.version_num, schema, period)
        except BaseException:
            conn.close()
            raise
        log.info("collection.connected", target=self.target.name, database=facts.dbname,
                 server_version=facts.version_num, pgss_columns=len(facts.columns.counters))
        return PgSession(conn, facts, self.target, self.params)

    def classify(self, exc: BaseException, alive: bool) -> CollectorError:
        message = redact(str(exc).strip(), self.password)
        if "shared_preload_libraries" in message:  # created but not preloaded
            return CollectorError(self.target.name, pg_session.NOT_LOADED, fatal=True)
        if not alive:
            at = pg_session.where(self.params)
            return TargetUnreachable(self.target.name, f"lost {at}: {message}")
        return CollectorError(self.target.name, f"poll failed: {message}")

    def snapshot(self, session: PgSession, now: datetime) -> deltas.Snapshot:
        conn, facts = session.conn, session.facts
        schema = sql.Identifier(facts.schema)
        state = conn.execute(pg_session.query("server_state", schema=schema)).fetchone() or {}
        info: Mapping[str, Any] = {}
        if facts.has_info:
            info = conn.execute(pg_session.query("statements_info", schema=schema)).fetchone() or {}
        # Plain tuples in binary format: thousands of rows, and dicts per row or parsing
        # numbers from text cost more than the server's side of the fetch.
        params = {"databases": list(session.databases())}
        with conn.cursor(row_factory=tuple_row, binary=True) as cur:
            rows = cur.execute(facts.statements_sql, params).fetchall()
        visible = [r for r in rows if r[3] is not None]
        self._hidden = len(rows) - len(visible)  # other roles' statements: no pg_read_all_stats
        self._entries = int(state.get("entries") or 0)
        keys: list[EntryId] = [(r[1], r[2], r[3], r[4] is not False) for r in visible]
        counters = pg_counters.Counters.from_rows(
            keys, facts.counter_names, [r[6:] for r in visible], facts.integer_counters)
        since = [r[5] for r in visible] if facts.columns.has_stats_since else None
        server = deltas.ServerIdentity(state.get("started"), info.get("stats_reset"),
                                       info.get("dealloc"))
        return deltas.Snapshot.from_counters(now, server, counters, [r[0] for r in visible],
                                             since)

    def compute(
        self, prev: deltas.Snapshot | None, cur: deltas.Snapshot
    ) -> engine.Deltas[QueryId, deltas.Snapshot]:
        r = deltas.compute(prev, cur)
        return engine.Deltas(r.counters, r.baseline, r.first_poll, r.reset, r.restarted,
                           r.dealloc_growth)

    def texts(
        self, session: PgSession, snapshot: deltas.Snapshot, known: Container[QueryId]
    ) -> dict[QueryId, str | None]:
        """Texts of query ids not seen before, in one `showtext := true` query."""
        new = {QueryKey(datname, key[2])
               for datname, key in zip(snapshot.datnames, snapshot.counters.keys, strict=True)
               if (datname, key[2]) not in known}
        if not new:
            return {}
        self.text_fetches += 1
        rows = session.conn.execute(
            pg_session.query("statement_texts", schema=sql.Identifier(session.facts.schema)),
            {"queryids": sorted({k.queryid for k in new}),
             "databases": list(session.databases())},
        )
        found: dict[QueryId, str] = {}
        for row in rows:
            if row["query"] is not None:
                found.setdefault(QueryKey(row["datname"], row["queryid"]), row["query"])
        texts: dict[QueryId, str | None] = {key: found.get(key) for key in sorted(new)}
        self._own.update(key for key, text in texts.items() if sqlfiles.is_own(text))
        return texts

    def watched(self, key: QueryId) -> bool:
        return key not in self._own

    def identify(self, key: QueryId) -> tuple[str, str]:
        return key[0], str(key[1])

    def plans(self, session: PgSession, snapshot: deltas.Snapshot) -> _Plans:
        return _Plans(self, session, snapshot)

    def waits(
        self, session: PgSession, keys: Sequence[QueryId], refs: Mapping[QueryId, QueryRef]
    ) -> Mapping[QueryId, Mapping[str, Any]]:
        if self._waits is None:
            return {}
        return self._waits.poll(session.conn, session.databases(), keys)

    def health(
        self, session: PgSession, result: engine.Deltas[QueryId, deltas.Snapshot]
    ) -> engine.Usage:
        facts, warnings = session.facts, []
        if not facts.read_all_stats or self._hidden:
            warnings.append(
                f"role {facts.role} lacks pg_read_all_stats, so statements of other roles are "
                f"hidden ({self._hidden} entries now): GRANT pg_read_all_stats TO {facts.role};"
            )
        return engine.Usage(self._entries, facts.max_entries, tuple(warnings))


@dataclasses.dataclass
class _Plans:
    """Generic plans for one poll, each explained in the application's context: the role
    that ran the query most and the settings it gets (`pg_capture`)."""

    owner: PostgresEngine
    session: PgSession
    snapshot: deltas.Snapshot
    _contexts: dict[tuple[int, str], pg_capture.ExplainContext] = dataclasses.field(
        default_factory=dict)

    errors = (psycopg.Error, CollectorError, pg_plans.PlanParseError)

    def key(self, request: PlanRequest) -> QueryId | None:
        try:
            return QueryKey(request.database, int(request.query_id))
        except ValueError:
            return None

    def capturable(self, key: QueryId, text: str | None) -> bool:
        return pg_capture.explainable(text)

    def weights(self) -> dict[QueryId, float]:
        weight: dict[QueryId, float] = {}
        total_ms = self.snapshot.counters.column("total_exec_time").tolist()
        for datname, entry, ms in zip(self.snapshot.datnames, self.snapshot.counters.keys,
                                      total_ms, strict=True):
            qk = (datname, entry[2])
            weight[qk] = weight.get(qk, 0.0) + float(ms)
        return weight

    def capture(
        self, key: QueryId, ref: QueryRef, text: str, candidates: tuple[IndexCandidate, ...],
        now: datetime,
    ) -> CapturedPlan:
        self.owner.explains += 1
        context = self._context(key, candidates)
        conn = self.session.database_connection(key[0])
        explained = pg_capture.explain(conn, text, self.session.facts.version_num, context)
        plan = pg_plans.capture(ref, explained.doc, now)
        return dataclasses.replace(plan, context=explained.context)

    def _context(
        self, key: QueryId, candidates: tuple[IndexCandidate, ...]
    ) -> pg_capture.ExplainContext:
        """The application's role and settings for this query (once per role and database
        per poll), plus the index candidates analysis asked to test."""
        context = pg_capture.ExplainContext()
        userid = self._users.get(key)
        if userid is not None:
            cached = self._contexts.get((userid, key[0]))
            if cached is None:
                cached = self._contexts[(userid, key[0])] = pg_capture.role_context(
                    self.session.conn, userid, key[0], superuser=self.session.facts.superuser)
            context = cached
        return dataclasses.replace(context, candidates=candidates) if candidates else context

    @functools.cached_property
    def _users(self) -> dict[QueryId, int]:
        """The userid with most calls for each query (the role the application runs it as)."""
        calls = self.snapshot.counters.column("calls").tolist()
        best: dict[QueryId, tuple[float, int]] = {}
        for datname, entry, n in zip(self.snapshot.datnames, self.snapshot.counters.keys, calls,
                                     strict=True):
            qk = (datname, entry[2])
            if n > best.get(qk, (-1.0, 0))[0]:
                best[qk] = (n, entry[1])
        return {k: userid for k, (_, userid) in best.items()}


class PostgresCollector(core.Cycle[QueryId, deltas.Snapshot, PgSession]):
    """Collects one PostgreSQL target. Not thread-safe except `request_plans`."""

    def __init__(self, target: TargetSettings) -> None:
        self._pg = PostgresEngine(target)
        super().__init__(target, self._pg)

    @property
    def text_fetches(self) -> int:
        return self._pg.text_fetches

    @property
    def explains(self) -> int:
        return self._pg.explains

    def connection(self) -> Connection:
        """The open read-only session to the target (diagnostics and tests)."""
        return self._ensure().conn

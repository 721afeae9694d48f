"""The SQL Server collector: Query Store per database, plan cache DMVs where Query Store is off.

Query Store (READ_WRITE, or READ_ONLY with a warning) gives per-interval statistics per plan:
only intervals closed by the server's clock are read, each once. Databases without Query Store
fall back to sys.dm_exec_query_stats deltas aggregated to query_hash. Plans are showplan XML
parsed by `showplan`; samples carry our shape hash, the engine's hash is kept beside it.
FORCE_LAST_GOOD_PLAN recommendations and forced-plan state go to the sample extras.
All server access goes through one `Source` (`sqlserver_source`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import structlog

from planwatch.collectors import core, showplan, staging
from planwatch.collectors import sqlserver_dmv as dmv
from planwatch.collectors import sqlserver_querystore as qs
from planwatch.collectors import sqlserver_source as source
from planwatch.collectors.sqlserver_source import Source, SourceError
from planwatch.config.settings import TargetSettings
from planwatch.errors import CollectorError
from planwatch.model.plans import PlanRequest
from planwatch.model.samples import (
    CapturedPlan,
    CollectionResult,
    CollectorHealth,
    QueryRef,
    QuerySample,
    StatementText,
)

log = structlog.get_logger(__name__)

READABLE = ("READ_WRITE", "READ_ONLY")
FIRST_POLL_LOOKBACK = timedelta(hours=1)  # closed Query Store intervals read on the first poll
STORAGE_WARNING_SHARE = 0.9


_Watermarks = tuple[dict[str, datetime], "dmv.Snapshot | None", "datetime | None"]


@dataclass
class _Poll:
    """What one collection gathers, and the plan budget it has left."""

    now: datetime
    budget: int
    samples: list[QuerySample] = field(default_factory=list)
    texts: list[StatementText] = field(default_factory=list)
    plans: list[CapturedPlan] = field(default_factory=list)


class SqlServerCollector:
    """Collects one SQL Server target. Not thread-safe except `request_plans`."""

    def __init__(self, target: TargetSettings, source_: Source | None = None) -> None:
        self.target = target
        self._params = source.parse_dsn(target)
        self._source = source_ or source.PymssqlSource(target, self._params)
        self._major: int | None = None
        self._login = str(self._params.get("user") or "")
        self._since: dict[str, datetime] = {}  # database -> server time of the last read
        self._refs: dict[tuple[str, int], QueryRef] = {}
        self._query_hashes: dict[tuple[str, int], str] = {}  # Query Store query_id -> query_hash
        self._plans: dict[tuple[str, int], qs.PlanInfo] = {}
        self._latest_plan: dict[tuple[str, int], int] = {}
        self._refetch: set[tuple[str, int]] = set()  # requested plans, (database, plan_id)
        self._no_recommendations: set[str] = set()
        self._dmv_prev: dmv.Snapshot | None = None
        self._dmv_refs: dict[dmv.QueryKey, QueryRef] = {}
        self._dmv_plans: dict[tuple[dmv.QueryKey, str], str] = {}
        self._prev_at: datetime | None = None
        # (read-until per database, plan-cache snapshot, previous poll) of the last stored poll
        self._staging: staging.Staging[_Watermarks] = staging.Staging(confirmed=({}, None, None))
        self._requests: core.Inbox[PlanRequest] = core.Inbox()
        self._warnings = core.Warnings()

    # -- protocol ------------------------------------------------------------------------------

    def collect(self, now: datetime) -> CollectionResult:
        try:
            return self._collect(now)
        except SourceError as exc:
            raise source.classify(self.target.name, self._params, exc) from None

    def request_plans(self, requests: Iterable[PlanRequest]) -> None:
        self._requests.put(requests)

    def close(self) -> None:
        self._source.close()
        self._major = None

    # -- one poll ------------------------------------------------------------------------------

    def rollback(self) -> None:
        self._staging.rollback()

    def wants_state(self) -> bool:
        return False  # Query Store keeps its own history: a new collector reads it back

    def restore(self, data: bytes) -> None:
        raise NotImplementedError("the SQL Server collector keeps no snapshot in storage")

    def saved_state(self) -> staging.SavedState | None:
        return None

    def _collect(self, now: datetime) -> CollectionResult:
        carried = self._staging.begin()
        if self._staging.confirmed is not None:  # measure from the last stored poll
            since, self._dmv_prev, self._prev_at = self._staging.confirmed
            self._since = dict(since)
        if self._major is None:
            facts = self._source.fetch("server_facts")[0]
            self._major = int(facts["major_version"] or 13)
            self._login = str(facts.get("login") or self._login)
        server_now = qs.utc(self._source.fetch("clock")[0]["server_now"])
        self._take_requests()
        poll = _Poll(now, self.target.plan_budget if self.target.plan_capture else 0)
        fallback = [db for db in self._databases() if not self._query_store(db, server_now, poll)]
        if fallback:
            self._plan_cache(fallback, server_now, now, poll)
        first = self._prev_at is None
        start, self._prev_at = self._prev_at, now
        health = CollectorHealth(
            target=self.target.name, at=now, entries=len(self._refs) + len(self._dmv_refs),
            first_poll=first, warnings=tuple(self._warnings.take()))
        texts, plans = carried[0] + poll.texts, carried[1] + poll.plans
        self._staging.stage((dict(self._since), self._dmv_prev, self._prev_at), texts, plans)
        log.info("collection.done", target=self.target.name, samples=len(poll.samples),
                 texts=len(texts), plans=len(plans))
        return CollectionResult(self.target.name, start, now, tuple(poll.samples),
                                tuple(texts), tuple(plans), health)

    def _databases(self) -> list[str]:
        if self.target.databases:
            return list(self.target.databases)
        if self._params.get("database"):
            return [self._params["database"]]
        return [str(r["name"]) for r in self._source.fetch("databases")]

    # -- Query Store ---------------------------------------------------------------------------

    def _query_store(self, db: str, server_now: datetime, poll: _Poll) -> bool:
        """Collect `db` from Query Store; False when Query Store is off there."""
        try:
            rows = self._source.fetch("query_store_options", database=db)
        except SourceError as exc:
            if source.is_permission_error(exc):
                raise CollectorError(self.target.name, source.query_store_denied(
                    db, self._login), fatal=True) from None
            raise
        options = rows[0] if rows else {}
        state = str(options.get("actual_state_desc") or "OFF")
        if state not in READABLE:
            self._warnings.once(f"Query Store is {state} in database {db}: using the plan "
                                "cache (sys.dm_exec_query_stats), which loses statistics on "
                                "plan eviction")
            return False
        self._check_options(db, state, options)
        since = self._since.get(db, server_now - FIRST_POLL_LOOKBACK)
        extra = ", rs.avg_tempdb_space_used, rs.avg_log_bytes_used" if self._at_least(14) else ""
        rows = self._source.fetch(
            "runtime_stats", {"since": _sql_time(since), "until": _sql_time(server_now)},
            database=db, parts={"extra_columns": extra})
        self._since[db] = server_now
        intervals = qs.group(rows, since, server_now)
        self._learn_queries(db, {i.query_id for i in intervals}, poll)
        for item in intervals:
            self._latest_plan[(db, item.query_id)] = item.plan_id
        requested = {pid for d, pid in self._refetch if d == db}
        self._refetch -= {(db, pid) for pid in requested}
        self._fetch_plans(db, {i.plan_id for i in intervals} | requested, poll)
        forced = self._forced(db)
        plans = {pid: replace(info, forced=forced.get(pid))
                 for (d, pid), info in self._plans.items() if d == db}
        refs = {qid: ref for (d, qid), ref in self._refs.items() if d == db}
        hashes = {qid: h for (d, qid), h in self._query_hashes.items() if d == db}
        poll.samples += qs.samples(intervals, refs, plans, self._recommendations(db),
                                   hashes)
        return True

    def _check_options(self, db: str, state: str, options: Mapping[str, Any]) -> None:
        if state == "READ_ONLY":
            self._warnings.once(f"Query Store is READ_ONLY in database {db} (readonly_reason "
                                f"{options.get('readonly_reason')}): new statistics are not "
                                "recorded; free space or raise MAX_STORAGE_SIZE_MB, then SET "
                                "QUERY_STORE (OPERATION_MODE = READ_WRITE)")
        used, limit = options.get("current_storage_size_mb"), options.get("max_storage_size_mb")
        if used is not None and limit and float(used) >= STORAGE_WARNING_SHARE * float(limit):
            self._warnings.once(f"Query Store in database {db} uses {used} of {limit} MB; it "
                                "turns READ_ONLY when full")

    def _learn_queries(self, db: str, query_ids: set[int], poll: _Poll) -> None:
        new = sorted(q for q in query_ids if (db, q) not in self._refs)
        if not new:
            return
        rows = self._source.fetch("queries", database=db,
                                  parts={"query_ids": _int_list(new)})
        for row in rows:
            text = str(row.get("query_sql_text") or "")
            ref = core.query_ref(self.target.name, db, str(int(row["query_id"])), text)
            self._refs[(db, int(row["query_id"]))] = ref
            query_hash = qs.hex_hash(row.get("query_hash"))
            if query_hash:
                self._query_hashes[(db, int(row["query_id"]))] = query_hash
            if text:
                poll.texts.append(StatementText(ref, text))
        for q in new:  # queries gone from Query Store meanwhile still get a ref
            self._refs.setdefault((db, q), QueryRef(self.target.name, db, str(q)))

    def _fetch_plans(self, db: str, plan_ids: set[int], poll: _Poll) -> None:
        """Parse plans not seen yet, within the budget; the rest wait for a later poll."""
        missing = sorted(p for p in plan_ids if (db, p) not in self._plans)[:max(0, poll.budget)]
        if not missing:
            return
        poll.budget -= len(missing)
        for row in self._source.fetch("plans", database=db,
                                      parts={"plan_ids": _int_list(missing)}):
            ref = self._refs.get((db, int(row["query_id"])))
            engine = qs.hex_hash(row.get("query_plan_hash"))
            xml = str(row.get("query_plan") or "")
            plan = self._parse(ref, xml, engine, poll.now) if ref else None
            if plan is not None:
                poll.plans.append(plan)
            self._plans[(db, int(row["plan_id"]))] = qs.PlanInfo(
                plan.plan_hash if plan else None, engine)

    def _forced(self, db: str) -> dict[int, dict[str, Any]]:
        extra = ", p.plan_forcing_type_desc" if self._at_least(15) else ""
        rows = self._source.fetch("forced_plans", database=db, parts={"extra_columns": extra})
        found = {int(r["plan_id"]): qs.forced_state(r) for r in rows}
        return {pid: state for pid, state in found.items() if state}

    def _recommendations(self, db: str) -> dict[int, dict[str, Any]]:
        if db in self._no_recommendations or not self._at_least(14):
            return {}
        try:
            rows = self._source.fetch("tuning_recommendations", database=db)
        except SourceError as exc:
            if exc.number != source.INVALID_OBJECT and not source.is_permission_error(exc):
                raise
            self._no_recommendations.add(db)
            self._warnings.once(f"automatic tuning recommendations of {db} are not readable: {exc}")
            return {}
        return dict(r for r in map(qs.recommendation, rows) if r is not None)

    # -- plan cache fallback -------------------------------------------------------------------

    def _plan_cache(self, dbs: list[str], server_now: datetime, now: datetime,
                    poll: _Poll) -> None:
        try:
            rows = self._source.fetch("query_stats")
        except SourceError as exc:
            if source.is_permission_error(exc):
                raise CollectorError(self.target.name, source.dmv_denied(dbs, self._login),
                                     fatal=True) from None
            raise
        snap = dmv.snapshot(rows, server_now, set(dbs))
        deltas = dmv.compute(self._dmv_prev, snap)
        start = self._prev_at or now
        for key, delta in sorted(deltas.items()):
            ref = self._dmv_ref(key, delta, poll)
            engine = delta.dominant_plan or ""
            plan_hash = self._dmv_plan(key, engine, delta.handles[engine], ref, poll)
            poll.samples.append(dmv.to_sample(ref, delta, start, now, plan_hash))
        self._dmv_prev = snap

    def _dmv_ref(self, key: dmv.QueryKey, delta: dmv.QueryDelta, poll: _Poll) -> QueryRef:
        ref = self._dmv_refs.get(key)
        if ref is None:
            handle = next(iter(delta.handles.values()))
            rows = self._source.fetch("statement_text", {
                "sql_handle": handle.sql_handle, "start": handle.start, "end": handle.end})
            text = str(rows[0].get("statement_text") or "") if rows else ""
            ref = core.query_ref(self.target.name, key.database, key.query_hash, text)
            self._dmv_refs[key] = ref
            if text:
                poll.texts.append(StatementText(ref, text))
        return ref

    def _dmv_plan(self, key: dmv.QueryKey, engine: str, handle: dmv.StatsKey, ref: QueryRef,
                  poll: _Poll) -> str | None:
        known = self._dmv_plans.get((key, engine))
        if known is not None or poll.budget <= 0:
            return known
        poll.budget -= 1
        rows = self._source.fetch("statement_plan", {
            "plan_handle": handle.plan_handle, "start": handle.start, "end": handle.end})
        xml = str(rows[0].get("query_plan") or "") if rows else ""
        plan = self._parse(ref, xml, engine, poll.now)
        if plan is None:
            return None
        poll.plans.append(plan)
        self._dmv_plans[(key, engine)] = plan.plan_hash
        return plan.plan_hash

    # -- helpers -------------------------------------------------------------------------------

    def _parse(
        self, ref: QueryRef, xml: str, engine_hash: str | None, now: datetime
    ) -> CapturedPlan | None:
        """The statement of a showplan whose plan hash matches (else the first with a plan)."""
        try:
            statements = [s for s in showplan.parse(xml) if s.root is not None]
        except showplan.ShowplanError as exc:
            log.warning("collection.plan_parse_failed", target=self.target.name,
                        database=ref.database, query_id=ref.query_id, error=str(exc))
            return None
        if not statements:
            return None
        chosen = next((s for s in statements if s.query_plan_hash == engine_hash), statements[0])
        plan = showplan.captured_plan(ref, chosen, xml, now)
        return replace(plan, engine_plan_hash=plan.engine_plan_hash or engine_hash)

    def _take_requests(self) -> None:
        """Requested queries get their latest plan parsed and emitted again."""
        for ref in self._requests.take():
            if ref.query_id.isdigit():
                plan_id = self._latest_plan.get((ref.database, int(ref.query_id)))
                if plan_id is not None:
                    self._plans.pop((ref.database, plan_id), None)
                    self._refetch.add((ref.database, plan_id))
            else:
                key = dmv.QueryKey(ref.database, ref.query_id)
                for cached in [k for k in self._dmv_plans if k[0] == key]:
                    del self._dmv_plans[cached]

    def _at_least(self, major: int) -> bool:
        return (self._major or 13) >= major


def _int_list(values: Iterable[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


def _sql_time(value: datetime) -> str:
    """A datetimeoffset literal pymssql can bind as a string."""
    return value.isoformat(sep=" ", timespec="microseconds")

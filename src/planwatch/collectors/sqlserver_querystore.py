"""Query Store runtime stats → per-interval samples, and tuning recommendations → extras.

Pure (engines.md §3.1, §3.3). Query Store already keeps per-interval statistics, so there is
no delta math: rows of closed intervals are grouped per (plan_id, interval) — the in-memory and
the flushed row of the same (plan_id, runtime_stats_interval_id, execution_type) included —
with totals recomputed as avg * count_executions. Then one sample per (query_id, interval)
carries the dominant plan (most executions). Units: µs → ms, 8 KB pages → blocks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from planwatch.model.samples import QueryRef, QuerySample

ABORTED, EXCEPTION = 3, 4  # execution_type: 0 regular, 3 client abort, 4 exception
AVERAGES = {
    "avg_duration": "duration_us", "avg_cpu_time": "cpu_us", "avg_logical_io_reads": "reads",
    "avg_logical_io_writes": "writes", "avg_physical_io_reads": "physical_reads",
    "avg_rowcount": "rows", "avg_clr_time": "clr_us", "avg_dop": "dop",
    "avg_tempdb_space_used": "tempdb_pages", "avg_log_bytes_used": "log_bytes",
}
"""Averages per execution and the totals they become (* count_executions)."""


@dataclass
class PlanInterval:
    """One plan's statistics in one Query Store interval (totals, not averages)."""

    plan_id: int
    query_id: int
    interval_id: int
    start: datetime
    end: datetime
    calls: int = 0
    totals: dict[str, float] = field(default_factory=dict)
    max_memory_pages: float = 0.0
    aborted: int = 0
    exceptions: int = 0


@dataclass(frozen=True, slots=True)
class PlanInfo:
    """What we know of one Query Store plan: our shape hash, the engine's, forcing state."""

    plan_hash: str | None
    engine_hash: str | None = None
    forced: Mapping[str, Any] | None = None


def group(
    rows: Iterable[Mapping[str, Any]], since: datetime | None = None,
    until: datetime | None = None,
) -> list[PlanInterval]:
    """Sum raw runtime_stats rows per (plan_id, interval), recomputing totals from averages.
    Rows of intervals not ending in (since, until] — the open one — are ignored (the SQL
    filters too; this keeps the rule where it can be tested)."""
    merged: dict[tuple[int, int], PlanInterval] = {}
    for row in rows:
        end = utc(row["end_time"])
        if (until is not None and end > until) or (since is not None and end <= since):
            continue
        count = int(row["count_executions"] or 0)
        key = (int(row["plan_id"]), int(row["runtime_stats_interval_id"]))
        item = merged.get(key)
        if item is None:
            item = merged[key] = PlanInterval(key[0], int(row["query_id"]), key[1],
                                              utc(row["start_time"]), end)
        item.calls += count
        for column, name in AVERAGES.items():
            if row.get(column) is not None:
                item.totals[name] = item.totals.get(name, 0.0) + float(row[column]) * count
        item.max_memory_pages = max(item.max_memory_pages,
                                    float(row.get("max_query_max_used_memory") or 0))
        kind = int(row.get("execution_type") or 0)
        item.aborted += count if kind == ABORTED else 0
        item.exceptions += count if kind == EXCEPTION else 0
    return sorted(merged.values(), key=lambda p: (p.end, p.query_id, p.plan_id))


def samples(
    intervals: Iterable[PlanInterval],
    refs: Mapping[int, QueryRef],
    plans: Mapping[int, PlanInfo],
    recommendations: Mapping[int, Mapping[str, Any]] | None = None,
    query_hashes: Mapping[int, str] | None = None,
) -> list[QuerySample]:
    """One sample per (query_id, interval) with the dominant plan's hash; the engine's
    query_hash (the statement fingerprint beside Query Store's query_id) goes to the extras."""
    by_query: dict[tuple[int, int], list[PlanInterval]] = {}
    for item in intervals:
        if item.calls > 0:
            by_query.setdefault((item.query_id, item.interval_id), []).append(item)
    hashes = query_hashes or {}
    return [
        _sample(refs[query_id], parts, plans, (recommendations or {}).get(query_id),
                hashes.get(query_id))
        for (query_id, _), parts in by_query.items() if query_id in refs
    ]


def _sample(
    ref: QueryRef, parts: list[PlanInterval], plans: Mapping[int, PlanInfo],
    recommendation: Mapping[str, Any] | None, query_hash: str | None = None,
) -> QuerySample:
    totals: dict[str, float] = {}
    for part in parts:
        for name, value in part.totals.items():
            totals[name] = totals.get(name, 0.0) + value
    calls = sum(p.calls for p in parts)
    dominant = max(parts, key=lambda p: (p.calls, p.totals.get("duration_us", 0.0)))
    info = plans.get(dominant.plan_id, PlanInfo(None))
    physical = int(totals.get("physical_reads", 0))
    extras = _extras(totals, calls, parts, dominant, info, plans)
    if recommendation:
        extras["tuning_recommendation"] = dict(recommendation)
    if query_hash:
        extras["query_hash"] = query_hash
    return QuerySample(
        ref=ref, interval_start=dominant.start, interval_end=dominant.end, calls=calls,
        total_ms=totals.get("duration_us", 0.0) / 1000, rows=round(totals.get("rows", 0.0)),
        blks_hit=max(0, round(totals.get("reads", 0.0)) - physical), blks_read=physical,
        blks_temp=round(totals.get("tempdb_pages", 0.0)), plan_hash=info.plan_hash,
        extras=extras,
    )


def _extras(
    totals: Mapping[str, float], calls: int, parts: list[PlanInterval], dominant: PlanInterval,
    info: PlanInfo, plans: Mapping[int, PlanInfo],
) -> dict[str, Any]:
    extras: dict[str, Any] = {"plan_id": dominant.plan_id}
    if info.plan_hash:  # Query Store reports the plan that executed in this interval
        extras["plan_observed"] = True
    if info.engine_hash:
        extras["query_plan_hash"] = info.engine_hash
    for name, key in (("cpu_us", "cpu_ms"), ("clr_us", "clr_ms")):
        if totals.get(name):
            extras[key] = totals[name] / 1000
    for name, key in (("writes", "logical_writes"), ("log_bytes", "log_bytes")):
        if totals.get(name):
            extras[key] = round(totals[name])
    if totals.get("dop") and calls:
        extras["avg_dop"] = totals["dop"] / calls
    memory = max(p.max_memory_pages for p in parts)
    if memory:
        extras["max_memory_kb"] = round(memory * 8)
    for key in ("aborted", "exceptions"):
        count = sum(getattr(p, key) for p in parts)
        if count:
            extras[key] = count
    if len(parts) > 1:
        extras["plans"] = {str(p.plan_id): p.calls for p in parts}
    forced = [plans[p.plan_id].forced for p in parts if p.plan_id in plans]
    if any(forced):
        extras["forced_plan"] = dict(next(f for f in forced if f))
    return extras


def forced_state(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The forcing facts of a sys.query_store_plan row, or None when the plan is not forced."""
    failures = int(row.get("force_failure_count") or 0)
    if not row.get("is_forced_plan") and not failures:
        return None
    return {
        "plan_id": int(row["plan_id"]), "is_forced": bool(row.get("is_forced_plan")),
        "forcing_type": row.get("plan_forcing_type_desc"), "force_failure_count": failures,
        "last_force_failure_reason": row.get("last_force_failure_reason_desc"),
    }


def recommendation(row: Mapping[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """(query_id, facts) of one FORCE_LAST_GOOD_PLAN row of sys.dm_db_tuning_recommendations."""
    details = _json(row.get("details"))
    force = details.get("planForceDetails") or {}
    if "queryId" not in force:
        return None
    state = _json(row.get("state"))
    script = (details.get("implementationDetails") or {}).get("script")
    facts = {
        "name": row.get("name"), "type": row.get("type"), "reason": row.get("reason"),
        "score": row.get("score"), "state": state.get("currentValue"),
        "state_reason": state.get("reason"),
        "valid_since": _iso(row.get("valid_since")), "last_refresh": _iso(row.get("last_refresh")),
        "regressed_plan_id": force.get("regressedPlanId"),
        "recommended_plan_id": force.get("recommendedPlanId"),
        "regressed_cpu_avg_us": force.get("regressedPlanCpuTimeAverage"),
        "recommended_cpu_avg_us": force.get("recommendedPlanCpuTimeAverage"),
        "estimated_gain": details.get("estimatedGain"), "script": script,
    }
    return int(force["queryId"]), {k: v for k, v in facts.items() if v is not None}


def hex_hash(value: bytes | str | None) -> str | None:
    """binary(8) hashes as SSMS and showplan XML print them: 0x + upper-case hex."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex().upper()
    text = str(value)
    return "0x" + (text[2:] if text[:2].lower() == "0x" else text).upper()


def utc(value: datetime) -> datetime:
    """datetimeoffset as an aware UTC datetime (naive values are taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    try:
        doc = json.loads(value) if value else {}
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _iso(value: Any) -> str | None:
    return utc(value).isoformat() if isinstance(value, datetime) else value

"""Collection job: poll one target, write samples, texts and plans, track the target's health."""

from __future__ import annotations

import threading
import time
import weakref
from datetime import datetime

import structlog

from planwatch.clock import utcnow
from planwatch.collectors.base import Collector
from planwatch.errors import CircuitOpen, CollectorError, StorageError
from planwatch.jobs import plan_evidence
from planwatch.jobs.deps import JobDeps
from planwatch.model.jobs import ResultStatus
from planwatch.model.plans import PlanRequest
from planwatch.model.samples import CollectionResult
from planwatch.scheduling.runner import JobContext, JobOutcome
from planwatch.storage import collector_state, plan_requests, plans, queries, samples, targets

log = structlog.get_logger(__name__)

_in_use: weakref.WeakKeyDictionary[Collector, threading.Lock] = weakref.WeakKeyDictionary()


def _collect_exclusively(collector: Collector, target: str, now: datetime) -> CollectionResult:
    """A collector is not thread-safe: a poll whose job timed out may still run in its thread,
    and the next poll must not use the same session concurrently."""
    lock = _in_use.setdefault(collector, threading.Lock())
    if not lock.acquire(blocking=False):
        raise CollectorError(target, "the previous collection is still blocked in a driver call "
                                     "(it outlived its job timeout); this poll is skipped")
    try:
        return collector.collect(now)
    finally:
        lock.release()


def _requests(deps: JobDeps, target: str) -> list[PlanRequest]:
    """Plan captures the analysis asked for (any worker's); none while storage is down."""
    try:
        return plan_requests.pending(deps.storage, target, utcnow() - plan_evidence.REQUEST_TTL)
    except StorageError as exc:
        deps.state.storage_error = str(exc)
        return []


def _shared(deps: JobDeps) -> bool:
    """Snapshots are kept in storage where another worker may take a target over (shared
    PostgreSQL storage). One worker on SQLite keeps them in memory: a restart starts over
    with a first poll, as it always did, and a poll costs no snapshot write."""
    return deps.fleet is not None and deps.fleet.shared


def _restore(deps: JobDeps, collector: Collector, target: str) -> None:
    """A collector new to this process measures from the target's stored snapshot (taken by
    the worker that held the target before, or by this one before a restart)."""
    if not _shared(deps) or not collector.wants_state():
        return
    try:
        data = collector_state.load(deps.storage, target)
        if data is not None:
            collector.restore(data)
    except StorageError as exc:  # this poll becomes a first poll; the next one measures
        deps.state.storage_error = str(exc)
    except ValueError as exc:  # unreadable (another version's format): start afresh
        log.warning("collection.state_unreadable", target=target, error=str(exc))


def _poll(deps: JobDeps, collector: Collector, target: str, now: datetime) -> CollectionResult:
    """The poll in one trip to the thread pool (each trip costs the event loop a hand-over):
    the stored snapshot if the collector has none, the pending plan requests, the poll."""
    _restore(deps, collector, target)
    collector.request_plans(_requests(deps, target))
    return _collect_exclusively(collector, target, now)


def _persist(deps: JobDeps, collector: Collector, result: CollectionResult) -> int | None:
    """Store the poll; None when another worker advanced the target meanwhile (nothing of
    this poll is stored: its interval is that worker's)."""
    st = deps.storage
    saved = collector.saved_state() if _shared(deps) else None
    if saved is None:
        written = samples.insert(st, result.samples)
        targets.set_status(st, result.target, up=True, error=None, at=result.interval_end,
                           health=result.health)
    else:
        stored = collector_state.store_poll(
            st, result.target, result.samples, measured_from=saved.measured_from,
            at=saved.at, state=saved.data, up_at=result.interval_end, health=result.health)
        if stored is None:
            return None
        written = stored
    if result.texts:
        queries.upsert(st, [t.ref for t in result.texts], result.interval_end)
        queries.set_texts(st, result.texts, result.interval_end)
    if result.plans:
        queries.upsert(st, [p.ref for p in result.plans], result.interval_end)
        plans.upsert(st, result.plans)
    plan_requests.record(st, result.target, result.plan_attempts)
    return written


def _mark_down(deps: JobDeps, name: str, error: CollectorError) -> None:
    try:
        targets.set_status(deps.storage, name, up=False, error=str(error), at=utcnow(),
                           fatal=error.fatal)
    except Exception as exc:  # storage may be down too; the job's own record says why
        deps.state.storage_error = str(exc)


async def collect(deps: JobDeps, target_name: str, ctx: JobContext) -> JobOutcome:
    target = deps.settings.target(target_name)
    state = deps.state.target(target_name)
    board = deps.breakers
    now = utcnow()
    state.last_attempt = now
    if not board.allow(target_name, now):
        raise CircuitOpen(target_name, board.retry_in(target_name, now).total_seconds())
    started = time.perf_counter()
    collector = deps.collector(target)
    try:
        result = await deps.blocking(_poll, deps, collector, target_name, now)
    except CollectorError as exc:
        board.record_failure(target_name, utcnow())
        state.up, state.last_error = False, str(exc)
        deps.state.count("collections", f"{target_name}|error")
        await deps.blocking(_mark_down, deps, target_name, exc)
        raise
    board.record_success(target_name, utcnow())
    state.last_duration_s = time.perf_counter() - started
    state.up, state.last_error, state.last_success = True, None, result.interval_end
    try:
        stored = await deps.blocking(_persist, deps, collector, result)
    except Exception:
        collector.rollback()  # the next poll covers this interval too: nothing is lost
        raise
    if stored is None:  # measured from a snapshot storage has moved past: start again from it
        deps.drop_collector(target_name)
        return JobOutcome(ResultStatus.WARNING, "another worker stored this target's interval;"
                          " this poll was dropped and the next one measures from storage")
    written = stored
    deps.state.count("collections", f"{target_name}|ok")
    deps.state.count("samples", target_name, written)
    deps.state.count("plans", target_name, len(result.plans))
    h = result.health
    status = ResultStatus.WARNING if (h.warnings or h.evicted or h.reset) else ResultStatus.HEALTHY
    ctx.log.info(
        "collection.done", samples=written, texts=len(result.texts), plans=len(result.plans),
        ms=round(state.last_duration_s * 1000, 1),
    )
    return JobOutcome(
        result_status=status,
        message=f"{written} samples, {len(result.plans)} plans",
        data={
            "samples": written, "texts": len(result.texts), "plans": len(result.plans),
            "entries": h.entries, "evicted": h.evicted, "reset": h.reset,
            "first_poll": h.first_poll, "warnings": list(h.warnings),
        },
    )

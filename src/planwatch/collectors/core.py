"""The poll cycle shared by the collectors of cumulative counters (PostgreSQL, MySQL/MariaDB).

One poll: (re)open the session, read the counters, subtract the last *stored* snapshot
(`staging`), read the texts of ids not seen before, keep the workload (not planwatch's own or
other monitoring statements), feed the capture queue (`capture`: suspects first), capture
plans, build the samples with their plan hash, `plan_observed` and waits, report health.
An engine supplies what differs: its SQL, how its rows map to counters and keys, and how one
plan is captured and parsed.

SQL Server reads closed Query Store intervals instead of cumulative counters and gets its
plans with them, so only the small parts below fit it: `Inbox`, `Warnings` and `query_ref`.
What an engine supplies is the protocol in `collectors.engine`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Generic, TypeVar

import structlog

from planwatch.analysis import identity
from planwatch.collectors import capture, pg_counters, staging
from planwatch.collectors.engine import C, Deltas, Engine, K, PlanSource, PlanUnavailable, S
from planwatch.collectors.pg_counters import Counters
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
from planwatch.redaction import redact

log = structlog.get_logger(__name__)

T = TypeVar("T")
DEFAULT_MOVES = capture.MovePolicy()


class Cycle(Generic[K, S, C]):
    """A collector (`base.Collector`) around an engine. Not thread-safe except
    `request_plans`."""

    def __init__(self, target: TargetSettings, engine: Engine[K, S, C],
                 moves: capture.MovePolicy = DEFAULT_MOVES) -> None:
        self.target = target
        self._engine = engine
        self._session: C | None = None
        # The snapshot of the last stored poll and the gap before it (see `staging`).
        self._staging: staging.Staging[tuple[S, timedelta | None]] = staging.Staging()
        self._texts: dict[K, str | None] = {}
        self._refs: dict[K, QueryRef] = {}  # fingerprinting every poll is costly
        self._plan_hashes: dict[K, str] = {}
        self._queue: capture.CaptureQueue[K] = capture.CaptureQueue(
            target.plan_budget, target.explain_per_query_per_hour, moves=moves)
        self._requests: Inbox[PlanRequest] = Inbox()
        self._candidates: dict[K, tuple[IndexCandidate, ...]] = {}

    # -- protocol ------------------------------------------------------------------------------

    def collect(self, now: datetime) -> CollectionResult:
        try:
            return self._collect(now)
        except CollectorError:
            raise
        except self._engine.errors as exc:
            alive = self._session is not None and self._session.alive()
            error = self._engine.classify(exc, alive)
            if not alive or isinstance(error, TargetUnreachable):
                self.close()
            raise error from None

    def rollback(self) -> None:
        self._staging.rollback()

    def wants_state(self) -> bool:
        return self._staging.confirmed is None and self._staging.staged is None

    def restore(self, data: bytes) -> None:
        self._staging.restore((self._engine.decode(data), None))

    def saved_state(self) -> staging.SavedState | None:
        staged = self._staging.staged
        if staged is None:
            return None
        confirmed = self._staging.confirmed
        return staging.SavedState(confirmed[0].at if confirmed else None, staged[0].at,
                                  self._engine.encode(staged[0]))

    def request_plans(self, requests: Iterable[PlanRequest]) -> None:
        self._requests.put(requests)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session = None

    # -- one poll ------------------------------------------------------------------------------

    def _collect(self, now: datetime) -> CollectionResult:
        session = self._ensure()
        carried = self._staging.begin()
        prev, previous_gap = self._staging.confirmed or (None, None)
        snapshot = self._engine.snapshot(session, now)
        result = self._engine.compute(prev, snapshot)
        texts = self._learn_texts(session, snapshot)
        found = self._workload(result.counters)
        if self.target.plan_capture:
            self._observe(found)
        fresh, attempts = self._capture_plans(session, snapshot, now)
        texts, plans = carried[0] + texts, carried[1] + fresh
        start = prev.at if prev else None
        # After the capture: a plan caught because latency moved is this interval's.
        hashes = self._plan_hashes
        samples = pg_counters.to_samples(
            [self._ref(key) for key in found.keys], found, start or now, now,
            [hashes.get(key) for key in found.keys])
        self._annotate(session, found.keys, samples, {p.ref for p in fresh})
        health = self._health(session, result, now, missed_polls(start, previous_gap, now))
        self._staging.stage((result.baseline, now - start if start else None), texts, plans)
        log.info("collection.done", target=self.target.name, samples=len(samples),
                 texts=len(texts), plans=len(plans), reset=result.reset)
        return CollectionResult(self.target.name, start, now, tuple(samples), tuple(texts),
                                tuple(plans), health, tuple(attempts))

    def _ensure(self) -> C:
        if self._session is not None and self._session.alive():
            return self._session
        self.close()
        self._session = self._engine.open()
        return self._session

    def _learn_texts(self, session: C, snapshot: S) -> list[StatementText]:
        """Texts of ids not seen before (read once per id); new workload is queued for its
        first plan."""
        fetched = self._engine.texts(session, snapshot, self._texts)
        texts, new = [], []
        for key, text in fetched.items():
            self._texts[key] = text
            if text is not None and self._engine.watched(key):
                texts.append(StatementText(self._ref(key), text))
                new.append(key)
        self._queue.add_new(new)
        return texts

    def _workload(self, counters: Counters[K]) -> Counters[K]:
        watched = self._engine.watched
        rows = [i for i, key in enumerate(counters.keys) if watched(key)]
        return counters if len(rows) == len(counters.keys) else counters.take(rows)

    def _observe(self, found: Counters[K]) -> None:
        """The capture queue's latency regimes (a move gets the plan captured again)."""
        total_ms, calls = found.column("total_exec_time"), found.column("calls")
        for key, ms, n in zip(found.keys, total_ms.tolist(), calls.tolist(), strict=True):
            self._queue.observe(key, float(ms), int(n))

    def _annotate(
        self, session: C, keys: Sequence[K], samples: Sequence[QuerySample],
        observed: set[QueryRef],
    ) -> None:
        """Per-sample evidence: whether the plan was captured in this interval (else it is
        carried over from an earlier capture) and what the query waited on."""
        waits = self._engine.waits(session, keys, self._refs)
        for key, sample in zip(keys, samples, strict=True):
            if sample.ref in observed:
                sample.extras["plan_observed"] = True
            extra = waits.get(key)
            if extra:
                sample.extras.update(extra)

    def _health(
        self, session: C, result: Deltas[K, S], now: datetime, missed: int
    ) -> CollectorHealth:
        usage = self._engine.health(session, result)
        return CollectorHealth(
            target=self.target.name, at=now, entries=usage.entries,
            max_entries=usage.max_entries, evicted=result.evicted, reset=result.reset,
            restarted=result.restarted, first_poll=result.first_poll, missed_polls=missed,
            warnings=usage.warnings)

    def _ref(self, key: K) -> QueryRef:
        ref = self._refs.get(key)
        if ref is None:
            text = self._texts.get(key)
            ref = query_ref(self.target.name, *self._engine.identify(key), text)
            if text:  # a query whose text is still unknown gets its fingerprint later
                self._refs[key] = ref
        return ref

    # -- plans ---------------------------------------------------------------------------------

    def _capture_plans(
        self, session: C, snapshot: S, now: datetime
    ) -> tuple[list[CapturedPlan], list[PlanAttempt]]:
        requests = self._requests.take()
        if not self.target.plan_capture:
            return [], []
        source = self._engine.plans(session, snapshot)
        if source is None:
            return [], []
        for request in requests:
            key = source.key(request)
            if key is not None:
                self._queue.request([key])
                self._candidates[key] = request.candidates
        texts = self._texts
        self._queue.forget(
            k for k in self._queue.pending() if not source.capturable(k, texts.get(k)))
        chosen = self._queue.choose(now, source.weights())
        suspects = self._queue.suspects()
        captured: list[CapturedPlan] = []
        attempts: list[PlanAttempt] = []
        for key in chosen:
            ref = self._ref(key)
            plan, error = self._capture(session, source, key, ref, now)
            attempts.append(PlanAttempt(ref.database, ref.query_id, now,
                                        plan.plan_hash if plan else None, error,
                                        requested=key in suspects))
            self._queue.attempted(key, now)
            self._candidates.pop(key, None)
            if plan is not None:
                self._plan_hashes[key] = plan.plan_hash
                captured.append(plan)
        return captured, attempts

    def _capture(
        self, session: C, source: PlanSource[K], key: K, ref: QueryRef, now: datetime
    ) -> tuple[CapturedPlan | None, str | None]:
        """One plan; a failure is logged and returned as the reason, never raised (unless the
        session is gone: then the poll fails)."""
        try:
            text = self._texts.get(key) or ""
            return source.capture(key, ref, text, self._candidates.get(key, ()), now), None
        except PlanUnavailable as exc:
            return None, str(exc)
        except source.errors as exc:
            if not session.alive():
                raise
            error = redact(str(exc).strip(), self._engine.password)
            log.warning("collection.plan_capture_failed", target=self.target.name,
                        database=ref.database, query_id=ref.query_id, error=error)
            return None, error.splitlines()[0][:300] if error else type(exc).__name__


def missed_polls(previous: datetime | None, previous_gap: timedelta | None,
                 now: datetime) -> int:
    """Polls that should have happened: the gap since the `previous` poll over the gap before
    it, counted only when more than twice as long (0 when unknown)."""
    if previous is None or not previous_gap:
        return 0
    gap = now - previous
    return int(gap / previous_gap) - 1 if gap > 2 * previous_gap else 0


def query_ref(target: str, database: str, query_id: str, text: str | None) -> QueryRef:
    """The stored identity of a query: engine id plus the fingerprint of its text (SPEC §4)."""
    return QueryRef(target, database, query_id, identity.fingerprint(text) if text else "")


class Warnings:
    """Setup problems a collector reports once, in the health of the next poll."""

    def __init__(self) -> None:
        self._said: set[str] = set()
        self._pending: list[str] = []

    def once(self, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            self._pending.append(message)

    def take(self) -> list[str]:
        pending, self._pending = self._pending, []
        return pending


class Inbox(Generic[T]):
    """Items handed over by another thread (plan requests from the analysis job)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[T] = []

    def put(self, items: Iterable[T]) -> None:
        with self._lock:
            self._items.extend(items)

    def take(self) -> list[T]:
        with self._lock:
            items, self._items = self._items, []
        return items

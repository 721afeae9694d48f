"""Analysis job: recent window vs baselines -> regressions, hotspots, health -> alerts.

Per target and run: queries whose native id changed take over their predecessor's baseline;
learning baselines grow (or hold a suspect batch out); suspects get their plan evidence and,
where it is missing, a capture request; regressions hold their window out of every future
baseline; lasting shifts of database time become hotspot findings.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from planwatch.alerting import lifecycle
from planwatch.alerting.routing import UNREACHABLE
from planwatch.analysis import health, hotspots, learning, regressions
from planwatch.clock import utcnow
from planwatch.config.settings import TargetSettings
from planwatch.jobs import baselines as baseline_job
from planwatch.jobs import plan_evidence
from planwatch.jobs.alerts import apply_transitions, finding_for
from planwatch.jobs.deps import JobDeps
from planwatch.model.alerts import Alert, AlertKind
from planwatch.model.baselines import Baseline
from planwatch.model.findings import HealthFinding, HotspotShift, Regression
from planwatch.model.jobs import ResultStatus
from planwatch.model.samples import QueryRef, QuerySample
from planwatch.scheduling.runner import JobContext, JobOutcome
from planwatch.storage import alerts, lineage, queries, samples, targets
from planwatch.storage import baselines as baseline_store

ENGINE_DETAILS = ("query_hash", "forced_plan", "tuning_recommendation")
"""Sample extras in which an engine speaks about the query itself (SQL Server's query_hash,
forced-plan state and automatic-tuning recommendation): carried into the regression's details."""
PARALLEL = 2
"""Targets analysed at once on PostgreSQL storage (one at a time on SQLite, one writer): two
hide the storage round trips of each other; an analysis is mostly Python, and 4 at once cost
~25 % more CPU per target in GIL hand-overs (docs/benchmarks.md, "Fleet density")."""
NEW_QUERY_AFTER = timedelta(hours=1)
"""A query first seen this long after planwatch started watching its target is new to it
(earlier, it is only new to planwatch)."""


def _with_engine_details(r: Regression, recent: Sequence[QuerySample]) -> Regression:
    """`r` with the newest value of each ENGINE_DETAILS extra of its recent samples."""
    found: dict[str, object] = {}
    for s in sorted(recent, key=lambda s: s.interval_end):
        found.update((k, s.extras[k]) for k in ENGINE_DETAILS if k in s.extras)
    return dataclasses.replace(r, details={**r.details, **found}) if found else r


def _group(window: Sequence[QuerySample]) -> dict[QueryRef, list[QuerySample]]:
    grouped: dict[QueryRef, list[QuerySample]] = defaultdict(list)
    for s in window:
        grouped[s.ref].append(s)
    return grouped


def _collector_findings(deps: JobDeps, name: str) -> list[HealthFinding]:
    """The target's collector-health findings from the state in storage (written by
    whichever worker collected it last): raised once, by the worker that analyses the target.
    Its unreachability is the health_check job's."""
    record = targets.get(deps.storage, name)
    if record is None or not record.up or record.health is None:
        return []
    return health.collector_findings(record.health)


def _learn(
    deps: JobDeps, target: str, by_query: Mapping[QueryRef, Sequence[QuerySample]],
    known: dict[QueryRef, Baseline], now: datetime,
) -> dict[QueryRef, Baseline]:
    """Grow the learning baselines (or hold suspect batches out); the baselines after."""
    st, cfg = deps.storage, deps.settings.analysis.regression
    fresh = [ref for ref in by_query if ref not in known]
    if fresh and lineage.inherit(st, target, fresh, now):
        known = baseline_store.load(st, target)
    decided = learning.decide(known, by_query, cfg, now)
    rebuild = set(decided.rebuild)
    if decided.hold:
        samples.hold_out(st, decided.hold)
        held = {ref for ref, _ in decided.hold}
        since = samples.first_held_out(st, {ref: known[ref].window_end for ref in held})
        for ref, start in learning.restarts(since, cfg, now).items():
            samples.restart_from(st, ref, start)
            rebuild.add(ref)
    if rebuild:
        until = {ref: max((s.interval_end for s in by_query.get(ref, ())), default=now)
                 for ref in rebuild}
        baseline_job.grow(deps, target, until, now)
        known = baseline_store.load(st, target)
    return known


def _newcomers(
    deps: JobDeps, target: str, seen: Iterable[QueryRef], usable: set[QueryRef], now: datetime,
) -> set[QueryRef]:
    """Queries without a usable baseline that are new to the target, not just to planwatch."""
    unknown = {ref for ref in seen if ref not in usable}
    if not unknown:
        return set()
    since = queries.watched_since(deps.storage, target)
    if since is None or now - since < NEW_QUERY_AFTER:
        return set()
    first = queries.first_seen(deps.storage, target, {(r.database, r.query_id) for r in unknown})
    return {r for r in unknown
            if (at := first.get((r.database, r.query_id))) and at - since >= NEW_QUERY_AFTER}


def analyze_target(deps: JobDeps, target: TargetSettings, now: datetime) -> dict[str, object]:
    """Blocking: one target's analysis; returns a summary for the job run's data."""
    st, cfg = deps.storage, deps.settings.analysis
    reg = cfg.regression
    window = samples.window(st, target.name, now - reg.window, now)
    by_query = _group(window)
    known = _learn(deps, target.name, by_query, baseline_store.load(st, target.name), now)
    usable = {ref for ref, b in known.items() if not learning.is_learning(b, reg)}
    suspects = regressions.suspects(known, by_query, reg)
    active = alerts.find_active(st, target=target.name)
    evidence = plan_evidence.known(st, target.name, suspects, active)
    evaluation = regressions.evaluate(known, by_query, reg, plan_evidence.lookup(st), evidence)
    asked = plan_evidence.ask(st, evaluation.classified, now)
    samples.hold_out(st, [(r.ref, s.interval_start) for r in evaluation.regressions
                          for s in by_query.get(r.ref, ()) if not s.held_out])
    shifts = hotspots.shifts(by_query, known=known, usable=usable,
                             newcomers=_newcomers(deps, target.name, by_query, usable, now),
                             settings=cfg.hotspots, min_calls=reg.min_calls,
                             min_ratio=reg.min_ratio)
    found = [_with_engine_details(r, by_query.get(r.ref, [])) for r in evaluation.regressions]
    transitions = _transitions(deps, target.name, (found, evaluation, shifts), active, now)
    learning_now = sum(1 for ref in by_query if ref not in usable)
    deps.state.learning[target.name] = learning_now
    return {
        "queries": len(by_query), "baselines": len(known), "learning": learning_now,
        "regressions": len(evaluation.regressions), "normal": len(evaluation.normal),
        "suspects": len(evaluation.suspects), "plan_requests": asked,
        "hotspots": len(shifts), "transitions": transitions,
    }


def _transitions(
    deps: JobDeps, target: str,
    findings: tuple[list[Regression], regressions.Evaluation, list[HotspotShift]],
    active: Mapping[str, Alert], now: datetime,
) -> int:
    """Apply the alert transitions of one target's findings; returns how many were recorded."""
    st, reg = deps.storage, deps.settings.analysis.regression
    found, evaluation, shifts = findings
    texts = {ref: queries.text_of(st, ref) or ""
             for ref in {*(r.ref for r in found), *(h.ref for h in shifts)}}
    for_ = finding_for(deps.settings)
    transitions = lifecycle.regressions(
        active, found, evaluation.normal, texts=texts,
        resolve_after_windows=reg.resolve_after_windows, now=now, for_=for_,
    )
    transitions += lifecycle.hotspots(
        active, shifts, evaluated_targets=[target], texts=texts,
        regressed=[*(r.ref for r in found), *evaluation.suspects],
        resolve_after_windows=reg.resolve_after_windows, now=now, for_=for_,
    )
    collector_alerts = {k: a for k, a in active.items()
                        if not (a.kind is AlertKind.HEALTH and a.subject == UNREACHABLE)}
    transitions += lifecycle.health(
        collector_alerts, _collector_findings(deps, target), evaluated_targets=[target],
        resolve_after_windows=reg.resolve_after_windows, now=now, for_=for_,
    )
    apply_transitions(
        st, transitions, actor="analysis", repeat_interval=deps.settings.alerting.repeat_interval
    )
    return sum(1 for t in transitions if t.records_event)


def owned(deps: JobDeps, target: TargetSettings) -> bool:
    """Work follows the target: a worker analyses (and rebuilds baselines of) the targets
    whose lease it holds, so analysis scales out with the collections."""
    return target.enabled and (deps.fleet is None or deps.fleet.owns_target(target.name))


async def analyze(deps: JobDeps, ctx: JobContext) -> JobOutcome:
    now = utcnow()
    # Least recently analysed first: a run cut short by its timeout (an overloaded worker)
    # leaves out different targets next time instead of always the same last ones.
    last = deps.state.analysed_at
    mine = sorted((t for t in deps.settings.targets if owned(deps, t)),
                  key=lambda t: last.get(t.name, datetime.min.replace(tzinfo=UTC)))
    turns = asyncio.Semaphore(PARALLEL if deps.storage.dialect == "postgresql" else 1)

    async def one(target: TargetSettings) -> dict[str, object]:
        async with turns:
            result = await deps.blocking(analyze_target, deps, target, now)
        last[target.name] = utcnow()
        return result

    results = await asyncio.gather(*(one(t) for t in mine))
    summary: dict[str, object] = {t.name: r for t, r in zip(mine, results, strict=True)}
    regressed = sum(int(str(r["regressions"])) for r in results)
    deps.state.count("analyses", "", 1)
    ctx.log.info("analysis.done", targets=len(summary), regressions=regressed)
    status = ResultStatus.WARNING if regressed else ResultStatus.HEALTHY
    return JobOutcome(status, f"{regressed} regression(s)", {"targets": summary})

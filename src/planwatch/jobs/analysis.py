"""Analysis job: recent window vs baselines -> regressions, hotspots, health -> alerts."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from planwatch.alerting import lifecycle
from planwatch.analysis import health, hotspots, regressions
from planwatch.clock import utcnow
from planwatch.collectors.plans import from_json
from planwatch.config.settings import TargetSettings
from planwatch.jobs import baselines as baseline_job
from planwatch.jobs.alerts import apply_transitions, finding_for
from planwatch.jobs.deps import JobDeps
from planwatch.model.findings import HealthFinding, Regression, Severity
from planwatch.model.jobs import ResultStatus
from planwatch.model.plans import PlanNode
from planwatch.model.samples import QueryRef, QuerySample
from planwatch.scheduling.runner import JobContext, JobOutcome
from planwatch.storage import alerts, plans, queries, samples
from planwatch.storage import baselines as baseline_store

ENGINE_DETAILS = ("query_hash", "forced_plan", "tuning_recommendation")
"""Sample extras in which an engine speaks about the query itself (SQL Server's query_hash,
forced-plan state and automatic-tuning recommendation): carried into the regression's details."""


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


def _unreachable_findings(deps: JobDeps, names: Sequence[str]) -> list[HealthFinding]:
    out = []
    for name in names:
        ts = deps.state.targets.get(name)
        if ts is not None and ts.up is False:
            message = ts.last_error or "target down"
            out.append(HealthFinding(name, "unreachable", Severity.CRITICAL, message))
    return out


def analyze_target(deps: JobDeps, target: TargetSettings, now: datetime) -> dict[str, object]:
    """Blocking: one target's analysis; returns a summary for the job run's data."""
    st, cfg = deps.storage, deps.settings.analysis
    window = samples.window(st, target.name, now - cfg.regression.window, now)
    by_query = _group(window)
    known = baseline_store.load(st, target.name)
    if any(ref not in known for ref in by_query) and baseline_job.rebuild_due(deps, target, now):
        baseline_job.rebuild_target(deps, target.name, now, only_new=True)
        known = baseline_store.load(st, target.name)

    @lru_cache(maxsize=256)
    def plan_of(ref: QueryRef, plan_hash: str) -> PlanNode | None:
        captured = plans.get(st, ref, plan_hash)
        return from_json(captured.plan_json) if captured else None

    evaluation = regressions.evaluate(known, by_query, cfg.regression, plan_of)
    spots = hotspots.find(
        window, previous_top=deps.state.top_sets.get(target.name, {}), settings=cfg.hotspots
    )
    deps.state.top_sets[target.name] = hotspots.top_sets(spots)
    deps.state.hotspots[target.name] = spots
    newcomers = [h.ref for h in spots if h.new_in_top]
    texts = {ref: queries.text_of(st, ref) or ""
             for ref in {*(r.ref for r in evaluation.regressions), *newcomers}}
    active = alerts.find_active(st)
    found = [_with_engine_details(r, by_query.get(r.ref, [])) for r in evaluation.regressions]
    for_ = finding_for(deps.settings)
    transitions = lifecycle.regressions(
        active, found, evaluation.normal, texts=texts,
        resolve_after_windows=cfg.regression.resolve_after_windows, now=now, for_=for_,
    )
    transitions += lifecycle.hotspots(
        active, spots, evaluated_targets=[target.name], texts=texts,
        regressed=[r.ref for r in found],
        resolve_after_windows=cfg.regression.resolve_after_windows, now=now, for_=for_,
    )
    ts = deps.state.targets.get(target.name)
    findings = health.collector_findings(ts.health) if ts and ts.health else []
    findings += _unreachable_findings(deps, [target.name])
    transitions += lifecycle.health(
        active, findings, evaluated_targets=[target.name],
        resolve_after_windows=cfg.regression.resolve_after_windows, now=now, for_=for_,
    )
    apply_transitions(
        st, transitions, actor="analysis", repeat_interval=deps.settings.alerting.repeat_interval
    )
    collector = deps.collectors.get(target.name)
    if collector is not None:
        collector.request_plans(r.ref for r in evaluation.regressions if r.new_plan_hash is None)
    return {
        "queries": len(by_query), "baselines": len(known),
        "regressions": len(evaluation.regressions), "normal": len(evaluation.normal),
        "hotspots": len(spots), "health_findings": len(findings),
        "transitions": sum(1 for t in transitions if t.records_event),
    }


async def analyze(deps: JobDeps, ctx: JobContext) -> JobOutcome:
    now = utcnow()
    summary: dict[str, object] = {}
    regressed = 0
    for target in deps.settings.targets:
        if not target.enabled:
            continue
        result = await deps.blocking(analyze_target, deps, target, now)
        summary[target.name] = result
        regressed += int(str(result["regressions"]))
    deps.state.count("analyses", "", 1)
    ctx.log.info("analysis.done", targets=len(summary), regressions=regressed)
    status = ResultStatus.WARNING if regressed else ResultStatus.HEALTHY
    return JobOutcome(status, f"{regressed} regression(s)", {"targets": summary})

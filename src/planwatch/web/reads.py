"""What each page and endpoint shows, gathered from the read models (blocking; run in a thread).

Both the JSON API and the dashboard call these, so a page shows exactly what the API returns.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from planwatch import views
from planwatch.alerting import lifecycle, silences
from planwatch.checks import plan
from planwatch.model.alerts import Alert, AlertKind
from planwatch.storage import check_results, workers
from planwatch.storage import readmodels as rm
from planwatch.storage import readmodels_checks as rc
from planwatch.storage import silences as stored_silences
from planwatch.web import health, plantext, shapes

if TYPE_CHECKING:
    from planwatch.app import App

HOTSPOT_WINDOW = timedelta(hours=1)
CHECK_WINDOW = timedelta(days=7)
RUNNING_WINDOW = timedelta(days=1)
STORAGE_CHECK_TTL = timedelta(seconds=10)


def alerts_with_links(worker: App, found: list[Alert], now: datetime) -> list[dict[str, Any]]:
    """Alerts as the API shows them: with their query page id and the silence covering them
    (stored silences and those of the configuration file)."""
    st = worker.storage
    pks = rm.query_pks(st, [(a.target, a.database, a.query_id) for a in found])
    active = [*silences.from_settings(worker.settings.alerting.silences),
              *stored_silences.list_silences(st, active_at=now)]
    tags = {t.name: t.tags for t in worker.settings.targets}
    return [
        shapes.alert(a, pks.get((a.target, a.database or "", a.query_id or "")),
                     silences.silencing(a, active, now, tags.get(a.target, ())))
        for a in found
    ]


def check_rows(worker: App, now: datetime, target: str | None = None) -> list[dict[str, Any]]:
    """The monitoring summary exactly as `planwatch checks --json` (configured checks that
    never ran included), plus each row's recent evaluations for the sparkline."""
    st = worker.storage
    found = {(c.check, c.target): c for c in check_results.summary(st, now)
             if target is None or c.target == target}
    configured = [(t.name, t.target) for t in plan.tasks(worker.settings.checks,
                                                          worker.settings.targets)
                  if target is None or t.target == target]
    keys = configured + sorted(set(found) - set(configured))
    points = rc.recent_points(st, since=now - CHECK_WINDOW, target=target)
    return [shapes.check_summary(found.get(k), *k, points.get(k, [])) for k in keys]


def baseline_needed(worker: App) -> int:
    """Intervals a baseline needs before the query is judged (learning until then)."""
    return worker.settings.analysis.regression.min_baseline_samples


def heartbeat_interval(worker: App) -> timedelta:
    job = worker.settings.scheduling.jobs.get("heartbeat")
    return (job.interval if job else None) or timedelta(seconds=15)


_storage_checks: dict[int, tuple[datetime, health.Check]] = {}


def overview_health(worker: App, now: datetime) -> list[health.Check]:
    """The checks of /health; the storage check (which parses the migration scripts to see
    whether the schema is current, ~10 ms) is reused for STORAGE_CHECK_TTL."""
    cached = _storage_checks.get(id(worker))
    if cached is None or now - cached[0] > STORAGE_CHECK_TTL:
        cached = (now, health.storage_check(worker))
        _storage_checks[id(worker)] = cached
    return [*health.liveness(worker, now), cached[1], *health.job_checks(worker),
            *health.target_checks(worker)]


def summary(worker: App, now: datetime) -> dict[str, Any]:
    """The overview: health, alert counts, targets up/down, top regressions and hotspots."""
    st = worker.storage
    _, report = health.report(overview_health(worker, now))
    counts = rm.alert_counts(st)
    by_severity: dict[str, int] = {"critical": 0, "warning": 0}
    by_status: dict[str, int] = {"pending": 0, "open": 0, "acknowledged": 0}
    for (status, severity), n in counts.items():
        by_severity[severity] = by_severity.get(severity, 0) + n
        by_status[status] = by_status.get(status, 0) + n
    targets = [shapes.target(t) for t in rm.target_infos(st)]
    up = {"up": 0, "down": 0, "unknown": 0, "disabled": 0}
    for t in targets:
        key = "disabled" if not t["enabled"] else {True: "up", False: "down"}.get(t["up"],
                                                                             "unknown")
        up[key] += 1
    since, needed = now - HOTSPOT_WINDOW, baseline_needed(worker)
    hot = {by: rm.top_queries(st, since=since, until=now, limit=10, by=by)
           for by in rm.RANKINGS}
    return {
        "generated_at": shapes.ts(now),
        "health": report,
        "alerts": {"active": sum(counts.values()), "by_severity": by_severity,
                   "by_status": by_status},
        "targets": {"counts": up, "items": targets},
        "top_regressions": alerts_with_links(worker, rm.top_regressions(st, 10), now),
        "hotspots": [shapes.ranked_query(r, needed) for r in hot["time"]],
        "hotspots_io": [shapes.ranked_query(r, needed) for r in hot["io"]],
        "hotspots_calls": [shapes.ranked_query(r, needed) for r in hot["calls"]],
        "hotspot_window_s": int(HOTSPOT_WINDOW.total_seconds()),
        "workers": worker_list(worker, now),
    }


def worker_list(worker: App, now: datetime) -> list[dict[str, Any]]:
    st = worker.storage
    jobs = rm.worker_jobs(st, now - RUNNING_WINDOW)
    hb = heartbeat_interval(worker)
    return [shapes.worker(w, jobs.get(w.instance_id), now, hb) for w in workers.list_all(st)]


def workers_page(worker: App, now: datetime, failed_only: bool) -> dict[str, Any]:
    st = worker.storage
    runs = rm.find_job_runs(st, status="Failed" if failed_only else None, limit=100)
    return {
        "workers": worker_list(worker, now),
        "running": [views.job_run(r) for r in rm.running_jobs(st, now - RUNNING_WINDOW)],
        "job_runs": [views.job_run(r) for r in runs],
        "failed_only": failed_only,
    }


def target_page(worker: App, name: str, now: datetime, since: datetime) -> dict[str, Any]:
    st = worker.storage
    info = rm.target_info(st, name)
    top = rm.top_queries(st, since=since, until=now, target=name, limit=25)
    return {
        "target": shapes.target(info),
        "queries": [shapes.ranked_query(r, baseline_needed(worker)) for r in top],
        "alerts": alerts_with_links(worker, rm.find_alerts(st, target=name, limit=50), now),
        "checks": check_rows(worker, now, name),
        "job_runs": [views.job_run(r) for r in rm.find_job_runs(st, target=name,
                                                                        limit=20)],
    }


def query_page(worker: App, pk: int, now: datetime, since: datetime) -> dict[str, Any]:
    st = worker.storage
    info = rm.query_info(st, pk)
    history = rm.plan_history(st, pk)
    keys = [lifecycle.dedup_key(kind, info.ref.target, info.ref.database, info.ref.query_id)
            for kind in (AlertKind.REGRESSION, AlertKind.HOTSPOT)]
    found = rm.find_alerts(st, status="all", dedup_keys=keys, limit=20)
    return {
        "query": shapes.query_info(info, baseline_needed(worker)),
        "series": shapes.series(rm.series(st, pk, since, now)),
        "plans": [shapes.plan(x) for x in history],
        "diff": diff(history, None, None),
        "alerts": alerts_with_links(worker, found, now),
    }


def diff(history: list[rm.PlanInfo], old: str | None, new: str | None) -> dict[str, Any] | None:
    """Two plans of the history side by side; `new` defaults to the newest plan and `old` to
    the plan before `new`. None when there is no such pair; LookupError for unknown hashes."""
    if len(history) < 2 and old is None:
        return None
    hashes = [x.plan_hash for x in history]
    for wanted in (old, new):
        if wanted is not None and wanted not in hashes:
            raise LookupError(f"plan {wanted!r} is not a plan of this query")
    after = hashes.index(new) if new is not None else len(history) - 1
    if old is None:
        if after == 0:
            return None
        before = after - 1
    else:
        before = hashes.index(old)
    a, b = history[before], history[after]
    return {"from": shapes.plan(a, with_text=False), "to": shapes.plan(b, with_text=False),
            **plantext.side_by_side(a.plan_json, b.plan_json)}


def checks_page(worker: App, now: datetime) -> dict[str, Any]:
    st = worker.storage
    return {
        "window_days": CHECK_WINDOW.days,
        "checks": check_rows(worker, now),
        "failures": [shapes.check_result(r) for r in rc.results(st, not_ok=True, limit=30)],
    }


def alert_detail(worker: App, alert_id: int, now: datetime) -> dict[str, Any]:
    from planwatch.storage import alerts

    st = worker.storage
    a = rm.get_alert(st, alert_id)
    out = alerts_with_links(worker, [a], now)[0]
    out["events"] = [
        {"at": shapes.ts(e.at), "event": e.event, "actor": e.actor, "message": e.message,
         "data": e.data}
        for e in alerts.events(st, alert_id)
    ]
    return out


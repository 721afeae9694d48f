"""What each page and endpoint shows, gathered from the read models (blocking; run in a thread).

Both the JSON API and the dashboard call these, so a page shows exactly what the API returns.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from planwatch import views
from planwatch.alerting import lifecycle, silences
from planwatch.checks import plan
from planwatch.model.alerts import Alert, AlertKind
from planwatch.storage import alerts, check_results, workers
from planwatch.storage import readmodels as rm
from planwatch.storage import readmodels_checks as rc
from planwatch.storage import silences as stored_silences
from planwatch.web import health, shapes
from planwatch.web.services import WebServices

HOTSPOT_WINDOW = timedelta(hours=1)
CHECK_WINDOW = timedelta(days=7)
RUNNING_WINDOW = timedelta(days=1)
STORAGE_CHECK_TTL = timedelta(seconds=10)


def alerts_with_links(web: WebServices, found: list[Alert], now: datetime) -> list[shapes.Alert]:
    """Alerts as the API shows them: with their query page id and the silence covering them
    (stored silences and those of the configuration file)."""
    st = web.storage
    pks = rm.query_pks(st, [(a.target, a.database, a.query_id) for a in found])
    active = [*silences.from_settings(web.settings.alerting.silences),
              *stored_silences.list_silences(st, active_at=now)]
    tags = {t.name: t.tags for t in web.settings.targets}
    return [
        shapes.alert(a, pks.get((a.target, a.database or "", a.query_id or "")),
                     silences.silencing(a, active, now, tags.get(a.target, ())))
        for a in found
    ]


def check_rows(web: WebServices, now: datetime,
               target: str | None = None) -> list[shapes.CheckSummary]:
    """The monitoring summary exactly as `planwatch checks --json` (configured checks that
    never ran included), plus each row's recent evaluations for the sparkline."""
    st = web.storage
    found = {(c.check, c.target): c for c in check_results.summary(st, now)
             if target is None or c.target == target}
    configured = [(t.name, t.target) for t in plan.tasks(web.settings.checks,
                                                          web.settings.targets)
                  if target is None or t.target == target]
    keys = configured + sorted(set(found) - set(configured))
    points = rc.recent_points(st, since=now - CHECK_WINDOW, target=target)
    return [shapes.check_summary(found.get(k), *k, points.get(k, [])) for k in keys]


def baseline_needed(web: WebServices) -> int:
    """Intervals a baseline needs before the query is judged (learning until then)."""
    return web.settings.analysis.regression.min_baseline_samples


def heartbeat_interval(web: WebServices) -> timedelta:
    job = web.settings.scheduling.jobs.get("heartbeat")
    return (job.interval if job else None) or timedelta(seconds=15)


_storage_checks: dict[int, tuple[datetime, health.Check]] = {}


def overview_health(web: WebServices, now: datetime) -> list[health.Check]:
    """The checks of /health; the storage check (which parses the migration scripts to see
    whether the schema is current, ~10 ms) is reused for STORAGE_CHECK_TTL."""
    cached = _storage_checks.get(id(web))
    if cached is None or now - cached[0] > STORAGE_CHECK_TTL:
        cached = (now, health.storage_check(web))
        _storage_checks[id(web)] = cached
    return [*health.liveness(web, now), cached[1], *health.job_checks(web),
            *health.target_checks(web)]


def summary(web: WebServices, now: datetime) -> shapes.Summary:
    """The overview: health, alert counts, targets up/down, top regressions and hotspots."""
    st = web.storage
    _, report = health.report(overview_health(web, now))
    counts = rm.alert_counts(st)
    by_severity: dict[str, int] = {"critical": 0, "warning": 0}
    by_status: dict[str, int] = {"pending": 0, "open": 0, "acknowledged": 0}
    for (status, severity), n in counts.items():
        by_severity[severity] = by_severity.get(severity, 0) + n
        by_status[status] = by_status.get(status, 0) + n
    targets = [shapes.target(t) for t in rm.target_infos(st)]
    up = {"up": 0, "down": 0, "unknown": 0, "disabled": 0}
    for t in targets:
        if not t["enabled"]:
            up["disabled"] += 1
        else:
            up["unknown" if t["up"] is None else "up" if t["up"] else "down"] += 1
    since, needed = now - HOTSPOT_WINDOW, baseline_needed(web)
    hot = {by: rm.top_queries(st, since=since, until=now, limit=10, by=by)
           for by in rm.RANKINGS}
    return {
        "generated_at": views.ts(now),
        "health": report,
        "alerts": {"active": sum(counts.values()), "by_severity": by_severity,
                   "by_status": by_status},
        "targets": {"counts": up, "items": targets},
        "top_regressions": alerts_with_links(web, rm.top_regressions(st, 10), now),
        "hotspots": [shapes.ranked_query(r, needed) for r in hot["time"]],
        "hotspots_io": [shapes.ranked_query(r, needed) for r in hot["io"]],
        "hotspots_calls": [shapes.ranked_query(r, needed) for r in hot["calls"]],
        "hotspot_window_s": int(HOTSPOT_WINDOW.total_seconds()),
        "workers": worker_list(web, now),
    }


def worker_list(web: WebServices, now: datetime) -> list[shapes.Worker]:
    st = web.storage
    jobs = rm.worker_jobs(st, now - RUNNING_WINDOW)
    hb = heartbeat_interval(web)
    return [shapes.worker(w, jobs.get(w.instance_id), now, hb) for w in workers.list_all(st)]


def workers_page(web: WebServices, now: datetime, failed_only: bool) -> dict[str, Any]:
    st = web.storage
    runs = rm.find_job_runs(st, status="Failed" if failed_only else None, limit=100)
    return {
        "workers": worker_list(web, now),
        "running": [views.job_run(r) for r in rm.running_jobs(st, now - RUNNING_WINDOW)],
        "job_runs": [views.job_run(r) for r in runs],
        "failed_only": failed_only,
    }


def target_page(web: WebServices, name: str, now: datetime, since: datetime) -> dict[str, Any]:
    st = web.storage
    info = rm.target_info(st, name)
    top = rm.top_queries(st, since=since, until=now, target=name, limit=25)
    return {
        "target": shapes.target(info),
        "queries": [shapes.ranked_query(r, baseline_needed(web)) for r in top],
        "alerts": alerts_with_links(web, rm.find_alerts(st, target=name, limit=50), now),
        "checks": check_rows(web, now, name),
        "job_runs": [views.job_run(r) for r in rm.find_job_runs(st, target=name,
                                                                        limit=20)],
    }


def query_page(web: WebServices, pk: int, now: datetime, since: datetime) -> dict[str, Any]:
    st = web.storage
    info = rm.query_info(st, pk)
    history = rm.plan_history(st, pk)
    keys = [lifecycle.dedup_key(kind, info.ref.target, info.ref.database, info.ref.query_id)
            for kind in (AlertKind.REGRESSION, AlertKind.HOTSPOT)]
    found = rm.find_alerts(st, status="all", dedup_keys=keys, limit=20)
    return {
        "query": shapes.query_info(info, baseline_needed(web)),
        "series": shapes.series(rm.series(st, pk, since, now)),
        "plans": [shapes.plan(x) for x in history],
        "diff": diff(history, None, None),
        "alerts": alerts_with_links(web, found, now),
    }


def diff(history: list[rm.PlanInfo], old: str | None,
         new: str | None) -> shapes.PlanDiff | None:
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
    return shapes.plan_diff(history[before], history[after])


def checks_page(web: WebServices, now: datetime) -> shapes.Checks:
    st = web.storage
    return {
        "window_days": CHECK_WINDOW.days,
        "checks": check_rows(web, now),
        "failures": [shapes.check_result(r) for r in rc.results(st, not_ok=True, limit=30)],
    }


def alert_detail(web: WebServices, alert_id: int, now: datetime) -> shapes.AlertDetail:
    st = web.storage
    shown = alerts_with_links(web, [rm.get_alert(st, alert_id)], now)[0]
    return {**shown, "events": [shapes.event(e) for e in alerts.events(st, alert_id)]}


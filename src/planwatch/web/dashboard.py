"""The server-rendered dashboard: overview, targets, queries, alerts, checks, workers.

Each page gathers its data with the same `reads` functions as the JSON API and renders one
Jinja2 template (autoescaping on: query texts, plans and messages are always shown as text).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from planwatch.clock import utcnow
from planwatch.storage import alerts as alerts_store
from planwatch.storage import readmodels as rm
from planwatch.web import auth, charts, dashboard_actions, notifications, params, reads, shapes
from planwatch.web.common import blocking, cached, identity, policy, services

HERE = Path(__file__).resolve().parent
REFRESH_S = 30
CHART_KEYS = ("t", "mean_ms", "calls", "rows", "blks_read", "plan_changes")


def _ago(value: str | None, now: datetime) -> str:
    if not value:
        return "never"
    seconds = (now - datetime.fromisoformat(value)).total_seconds()
    if seconds < 0:
        return "in " + _span(-seconds)
    return _span(seconds) + " ago"


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _num(value: float | None, digits: int = 1) -> str:
    return "\u2013" if value is None else f"{value:,.{digits}f}"  # en dash


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["sparkline"] = charts.sparkline
    env.filters["short"] = lambda s, n=60: s if s is None or len(s) <= n else s[: n - 1] + "…"
    return env


TEMPLATES = Jinja2Templates(env=environment())


def render(request: Request, name: str, page: str, data: Mapping[str, Any],
           status_code: int = 200) -> Response:
    who, pol = identity(request), policy(request)
    now = utcnow()
    raw = request.query_params.get("refresh", "")
    refresh = min(max(int(raw), 2), 3600) if raw.isdigit() else REFRESH_S
    context = {
        "page": page, "data": data, "now": now, "ago": lambda v: _ago(v, now),
        "can_write": who.can_write, "token_configured": pol.token is not None,
        "csrf": auth.csrf_token(pol.key, who.session_id) if who.by == "session" else "",
        "refresh": refresh, "path": request.url.path,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    }
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


async def overview(request: Request) -> Response:
    data = await cached(request, ("summary",), reads.summary, services(request), utcnow())
    return render(request, "overview.html", "overview", data)


async def target(request: Request) -> Response:
    now = utcnow()
    name = params.path_text(request, "name")
    window, since = params.window(request, now)
    data = await blocking(reads.target_page, services(request), name, now, since)
    return render(request, "target.html", "targets", data | {"range": window})


async def queries(request: Request) -> Response:
    st, now = services(request).storage, utcnow()
    window, since = params.window(request, now)
    target = params.text(request, "target")
    top = await blocking(lambda: rm.top_queries(st, since=since, until=now, target=target,
                                                limit=100))
    needed = reads.baseline_needed(services(request))
    data = {"queries": [shapes.ranked_query(r, needed) for r in top], "range": window,
            "target": target}
    return render(request, "queries.html", "queries", data)


async def query(request: Request) -> Response:
    now = utcnow()
    pk = params.path_id(request, "query_id")
    window, since = params.window(request, now)
    data = dict(await cached(request, ("query", pk, window), reads.query_page,
                             services(request), pk, now, since))
    old, new = params.text(request, "from"), params.text(request, "to")
    if old or new:
        history = await blocking(rm.plan_history, services(request).storage, pk)
        try:
            data["diff"] = reads.diff(history, old, new)
        except LookupError:
            data["diff_error"] = "one of the chosen plans does not belong to this query"
    chart = {k: data["series"][k] for k in CHART_KEYS}
    return render(request, "query.html", "queries", data | {"range": window, "chart": chart})


async def alerts(request: Request) -> Response:
    st, now = services(request).storage, utcnow()
    filters = {
        "status": params.choice(request, "status", params.ALERT_STATUSES, "open") or "open",
        "kind": params.choice(request, "kind", params.KINDS, None),
        "severity": params.choice(request, "severity", params.SEVERITIES, None),
        "target": params.text(request, "target"),
    }
    limit = params.limit(request)

    def read() -> list[shapes.Alert]:
        found = rm.find_alerts(st, limit=limit, **filters)  # type: ignore[arg-type]
        return reads.alerts_with_links(services(request), found, now)

    more = {**{k: v for k, v in filters.items() if v}, "limit": min(limit * 5, params.LIMIT.most)}
    key = ("alerts", limit, *sorted((k, v or "") for k, v in filters.items()))
    data = {"alerts": await cached(request, key, read), "filters": filters, "limit": limit,
            "given_up": await notifications.given_up(request),
            "more": "?" + urlencode(more), "kinds": params.KINDS,
            "statuses": params.ALERT_STATUSES, "severities": params.SEVERITIES}
    return render(request, "alerts.html", "alerts", data)


async def alert(request: Request) -> Response:
    """Where an alert's link (notifications, the demo) lands: its query page when it is about
    a query, else its row on the alerts page. An unknown id is a 404."""
    st, alert_id = services(request).storage, int(request.path_params["alert_id"])

    def read() -> str:
        found = alerts_store.get(st, alert_id)
        key = (found.target, found.database or "", found.query_id or "")
        pk = rm.query_pks(st, [key]).get(key) if found.query_id else None
        if pk is not None:
            return f"/queries/{pk}"
        query = urlencode({"status": "all", "target": found.target})
        return f"/alerts?{query}#alert-{alert_id}"

    return RedirectResponse(await blocking(read), status_code=303)


async def checks(request: Request) -> Response:
    data = await blocking(reads.checks_page, services(request), utcnow())
    return render(request, "checks.html", "checks", data)


async def workers(request: Request) -> Response:
    failed = request.query_params.get("failed") == "1"
    data = await blocking(reads.workers_page, services(request), utcnow(), failed)
    return render(request, "workers.html", "workers", data)


def routes() -> list[BaseRoute]:
    return [
        Route("/", overview, methods=["GET"]),
        Route("/targets/{name}", target, methods=["GET"]),
        Route("/queries", queries, methods=["GET"]),
        Route("/queries/{query_id:int}", query, methods=["GET"]),
        Route("/alerts", alerts, methods=["GET"]),
        Route("/alerts/{alert_id:int}", alert, methods=["GET"]),
        Route("/checks", checks, methods=["GET"]),
        Route("/workers", workers, methods=["GET"]),
        *dashboard_actions.routes(),
    ]

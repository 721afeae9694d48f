"""The JSON API under /api/v1 (read endpoints; alert actions live in `api_actions`).

Handlers parse the query string, run one `reads` function in a thread and return its dict;
the shapes are documented in docs/api.md and in the OpenAPI document at /api/v1/openapi.json.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from planwatch import views
from planwatch.clock import utcnow
from planwatch.storage import readmodels as rm
from planwatch.storage import readmodels_checks as rc
from planwatch.web import api_actions, openapi, params, reads, shapes
from planwatch.web.common import JSON, blocking, cached, services

PREFIX = "/api/v1"


async def spec(request: Request) -> Response:
    return JSON(openapi.document())


async def summary(request: Request) -> Response:
    return JSON(await cached(request, ("summary",), reads.summary, services(request), utcnow()))


async def alerts(request: Request) -> Response:
    st, now = services(request).storage, utcnow()
    status = params.choice(request, "status", params.ALERT_STATUSES, "open") or "open"
    kind = params.choice(request, "kind", params.KINDS, None)
    severity = params.choice(request, "severity", params.SEVERITIES, None)
    target = params.text(request, "target")
    limit = params.limit(request)

    def read() -> list[shapes.Alert]:
        found = rm.find_alerts(st, status=status, kind=kind, severity=severity, target=target,
                               limit=limit)
        return reads.alerts_with_links(services(request), found, now)

    return JSON(await blocking(read))


async def alert(request: Request) -> Response:
    alert_id = params.path_id(request, "alert_id")
    return JSON(await blocking(reads.alert_detail, services(request), alert_id, utcnow()))


async def targets(request: Request) -> Response:
    found = await blocking(rm.target_infos, services(request).storage)
    return JSON([shapes.target(t) for t in found])


async def target(request: Request) -> Response:
    name = params.path_text(request, "name")
    found = await blocking(rm.target_info, services(request).storage, name)
    return JSON(shapes.target(found))


async def queries(request: Request) -> Response:
    st, now = services(request).storage, utcnow()
    _, since = params.window(request, now)
    target = params.text(request, "target")
    limit = params.limit(request, params.QUERY_LIMIT)
    if params.choice(request, "order", params.QUERY_ORDERS, "total") == "regression":
        found = await blocking(rm.top_regressions, st, limit)
        return JSON(await blocking(reads.alerts_with_links, services(request), found, now))
    top = await blocking(lambda: rm.top_queries(st, since=since, until=now, target=target,
                                                limit=limit))
    needed = reads.baseline_needed(services(request))
    return JSON([shapes.ranked_query(r, needed) for r in top])


async def query(request: Request) -> Response:
    pk = params.path_id(request, "query_id")
    info = await blocking(rm.query_info, services(request).storage, pk)
    return JSON(shapes.query_info(info, reads.baseline_needed(services(request))))


async def series(request: Request) -> Response:
    st, now = services(request).storage, utcnow()
    pk = params.path_id(request, "query_id")
    _, since = params.window(request, now)
    await blocking(rm.query_info, st, pk)
    return JSON(shapes.series(await blocking(rm.series, st, pk, since, now)))


async def plans(request: Request) -> Response:
    st = services(request).storage
    pk = params.path_id(request, "query_id")
    await blocking(rm.query_info, st, pk)
    return JSON([shapes.plan(x) for x in await blocking(rm.plan_history, st, pk)])


async def plan_diff(request: Request) -> Response:
    st = services(request).storage
    pk = params.path_id(request, "query_id")
    old, new = params.text(request, "from"), params.text(request, "to")
    await blocking(rm.query_info, st, pk)
    history = await blocking(rm.plan_history, st, pk)
    try:
        found = reads.diff(history, old, new)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    if found is None:
        raise HTTPException(404, "no earlier plan to compare with")
    return JSON(found)


async def checks(request: Request) -> Response:
    return JSON(await blocking(reads.checks_page, services(request), utcnow()))


async def check_results(request: Request) -> Response:
    st = services(request).storage
    check = params.text(request, "check")
    target = params.text(request, "target")
    status = params.choice(request, "status", params.CHECK_STATUSES, None)
    limit = params.limit(request)
    found = await blocking(lambda: rc.results(st, check_name=check, target=target,
                                              status=status, limit=limit))
    return JSON([shapes.check_result(r) for r in found])


async def workers(request: Request) -> Response:
    return JSON(await blocking(reads.worker_list, services(request), utcnow()))


async def job_runs(request: Request) -> Response:
    st = services(request).storage
    status = params.choice(request, "status", params.JOB_STATUSES, None)
    job_type = params.text(request, "job_type")
    target = params.text(request, "target")
    limit = params.limit(request)
    found = await blocking(lambda: rm.find_job_runs(st, status=status, job_type=job_type,
                                                    target=target, limit=limit))
    return JSON([views.job_run(r) for r in found])


def routes() -> list[BaseRoute]:
    get = ["GET"]
    return [
        Route(f"{PREFIX}/openapi.json", spec, methods=get),
        Route(f"{PREFIX}/summary", summary, methods=get),
        Route(f"{PREFIX}/alerts", alerts, methods=get),
        Route(f"{PREFIX}/alerts/{{alert_id:int}}", alert, methods=get),
        *api_actions.routes(PREFIX),
        Route(f"{PREFIX}/targets", targets, methods=get),
        Route(f"{PREFIX}/targets/{{name}}", target, methods=get),
        Route(f"{PREFIX}/queries", queries, methods=get),
        Route(f"{PREFIX}/queries/{{query_id:int}}", query, methods=get),
        Route(f"{PREFIX}/queries/{{query_id:int}}/series", series, methods=get),
        Route(f"{PREFIX}/queries/{{query_id:int}}/plans", plans, methods=get),
        Route(f"{PREFIX}/queries/{{query_id:int}}/plans/diff", plan_diff, methods=get),
        Route(f"{PREFIX}/checks", checks, methods=get),
        Route(f"{PREFIX}/checks/results", check_results, methods=get),
        Route(f"{PREFIX}/workers", workers, methods=get),
        Route(f"{PREFIX}/job-runs", job_runs, methods=get),
    ]

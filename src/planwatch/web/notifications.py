"""Notifications on the web: `GET /api/v1/notifications`, resending a given-up one over the API
(`POST /api/v1/notifications/{id}/resend`, needs the token) and from the alerts page (form)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from planwatch import views
from planwatch.alerting import notifications
from planwatch.clock import utcnow
from planwatch.storage import notifications as store
from planwatch.web import params
from planwatch.web.common import JSON, actor, blocking, read_cache, require_write, services
from planwatch.web.dashboard_actions import safe_next

API = "/api/v1/notifications"


async def listing(request: Request) -> Response:
    status = params.choice(request, "status", params.NOTIFICATION_STATUSES, None)
    channel = params.text(request, "channel")
    limit = params.limit(request)
    return JSON(await blocking(lambda: notifications.listing(
        services(request).storage, status=status, channel=channel, limit=limit)))


async def _resend(request: Request, csrf: str | None) -> views.Notification:
    notification_id = params.path_id(request, "notification_id")
    who = require_write(request, csrf)
    st, by = services(request).storage, actor(request, who)

    def apply() -> views.Notification:
        n = notifications.resend(st, notification_id, actor=by, now=utcnow())
        return views.notification(n, store.alert_ids(st, notification_id))

    try:
        shown = await blocking(apply)
    except store.NotResendable as exc:
        raise HTTPException(409, str(exc)) from None
    read_cache(request).clear()
    return shown


async def resend(request: Request) -> Response:
    return JSON(await _resend(request, request.headers.get("x-csrf-token")))


async def resend_form(request: Request) -> Response:
    try:
        form = await request.form(max_files=0, max_fields=10)
    except Exception as exc:  # malformed body: python-multipart / starlette errors
        raise HTTPException(400, f"unreadable form: {exc}") from None
    csrf = form.get("csrf")
    await _resend(request, csrf if isinstance(csrf, str) else None)
    return RedirectResponse(safe_next(form.get("next"), "/alerts"), status_code=303)


def routes() -> list[BaseRoute]:
    post = ["POST"]
    return [
        Route(API, listing, methods=["GET"]),
        Route(f"{API}/{{notification_id:int}}/resend", resend, methods=post),
        Route("/notifications/{notification_id:int}/resend", resend_form, methods=post),
    ]


async def given_up(request: Request) -> list[views.Notification]:
    """For the alerts page: the notifications given up, newest first."""
    return await blocking(lambda: notifications.listing(services(request).storage,
                                                        status="failed", limit=20))

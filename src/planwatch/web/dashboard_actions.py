"""Dashboard forms: log in / out, and acknowledge, resolve or silence an alert.

Form posts are authorized by the session cookie plus the CSRF field (see `auth`); the result
is a 303 back to the page the form was on, so a refresh never re-posts.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from planwatch.alerting import actions
from planwatch.clock import utcnow
from planwatch.web import alert_actions, auth, params
from planwatch.web.alert_actions import MAX_COMMENT, MAX_SILENCE_MINUTES
from planwatch.web.common import actor, blocking, policy, read_cache, require_write, services

FAILED_LOGIN_DELAY_S = 0.5  # slows down guessing


def safe_next(value: object, default: str = "/") -> str:
    """Only local paths: never redirect to another site."""
    text = value if isinstance(value, str) else ""
    ok = text.startswith("/") and not text.startswith("//") and "\\" not in text
    return text if ok and len(text) < 2000 else default


async def login_form(request: Request) -> Response:
    from planwatch.web.dashboard import render

    nxt = safe_next(request.query_params.get("next"))
    return render(request, "login.html", "login", {"next": nxt, "error": ""})


async def login(request: Request) -> Response:
    from planwatch.web.dashboard import render

    form = await _form(request)
    nxt = safe_next(form.get("next"))
    pol = policy(request)
    if not auth.same_origin(request):
        raise HTTPException(403, "cross-origin login refused")
    offered = form.get("token")
    if not isinstance(offered, str) or not auth.check_token(pol, offered):
        await asyncio.sleep(FAILED_LOGIN_DELAY_S)
        error = ("writes are disabled: no http.token is configured" if pol.token is None
                 else "wrong token")
        return render(request, "login.html", "login", {"next": nxt, "error": error},
                      status_code=401)
    response = RedirectResponse(nxt, status_code=303)
    auth.set_session_cookie(response, request, auth.new_session(pol.key, time.time()))
    return response


async def logout(request: Request) -> Response:
    if not auth.same_origin(request):
        raise HTTPException(403, "cross-origin logout refused")
    response = RedirectResponse("/", status_code=303)
    auth.clear_session_cookie(response)
    return response


async def _form(request: Request) -> FormData:
    try:
        return await request.form(max_files=0, max_fields=20)
    except Exception as exc:  # malformed body: python-multipart / starlette errors
        raise HTTPException(400, f"unreadable form: {exc}") from None


def _minutes(form: FormData) -> int:
    raw = form.get("minutes", "60")
    if not isinstance(raw, str) or not raw.isdigit() or not 1 <= int(raw) <= MAX_SILENCE_MINUTES:
        raise HTTPException(400, f"minutes: an integer from 1 to {MAX_SILENCE_MINUTES}")
    return int(raw)


async def alert_action(request: Request) -> Response:
    alert_id = params.path_id(request, "alert_id")
    change: str = request.path_params["action"]
    if change not in alert_actions.ACTIONS:
        raise HTTPException(404, f"no alert action {change[:40]!r}")
    form = await _form(request)
    csrf = form.get("csrf")
    who = require_write(request, csrf if isinstance(csrf, str) else None)
    comment = form.get("comment", "")
    comment = comment[:MAX_COMMENT].replace("\x00", "") if isinstance(comment, str) else ""
    minutes = _minutes(form) if change == "silence" else 0
    st, by = services(request).storage, actor(request, who)

    def apply() -> Any:
        return alert_actions.perform(st, alert_id, change, actor=by, now=utcnow(),
                                     comment=comment, minutes=minutes)

    try:
        await blocking(apply)
    except actions.InvalidTransition as exc:
        raise HTTPException(409, str(exc)) from None
    read_cache(request).clear()  # the writer sees the effect at once
    return RedirectResponse(safe_next(form.get("next"), "/alerts"), status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/alerts/{alert_id:int}/{action:str}", alert_action, methods=["POST"]),
    ]

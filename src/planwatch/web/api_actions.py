"""Alert actions over the API: acknowledge, resolve, silence (need the token or a session)."""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from planwatch.alerting import actions
from planwatch.clock import utcnow
from planwatch.web import alert_actions, params, reads, shapes
from planwatch.web.alert_actions import MAX_COMMENT, MAX_SILENCE_MINUTES
from planwatch.web.common import JSON, actor, blocking, read_cache, require_write, services


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise HTTPException(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return body


def comment_of(body: dict[str, Any]) -> str:
    """The body's `comment` (`shapes.ActionBody`), checked here so a 400 says it in words."""
    value = body.get("comment", "")
    if not isinstance(value, str) or len(value) > MAX_COMMENT or "\x00" in value:
        raise HTTPException(400, f"comment: a string of at most {MAX_COMMENT} characters, "
                                 "no NUL")
    return value


def minutes_of(body: dict[str, Any]) -> int:
    value = body.get("minutes", 60)
    top = MAX_SILENCE_MINUTES
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
        raise HTTPException(400, f"minutes: an integer from 1 to {top}")
    return value


async def _act(request: Request, change: str) -> Response:
    alert_id = params.path_id(request, "alert_id")
    who = require_write(request, request.headers.get("x-csrf-token"))
    body = await _body(request)
    comment = comment_of(body)
    minutes = minutes_of(body) if change == "silence" else 0
    web, by = services(request), actor(request, who)

    def apply() -> shapes.Alert:
        now = utcnow()
        updated = alert_actions.perform(web.storage, alert_id, change, actor=by, now=now,
                                        comment=comment, minutes=minutes)
        return reads.alerts_with_links(web, [updated], now)[0]

    try:
        shown = await blocking(apply)
    except actions.InvalidTransition as exc:
        raise HTTPException(409, str(exc)) from None
    read_cache(request).clear()  # the writer sees the effect at once
    return JSON(shown)


async def ack(request: Request) -> Response:
    return await _act(request, "ack")


async def resolve(request: Request) -> Response:
    return await _act(request, "resolve")


async def silence_alert(request: Request) -> Response:
    return await _act(request, "silence")


def routes(prefix: str) -> list[BaseRoute]:
    post = ["POST"]
    return [
        Route(f"{prefix}/alerts/{{alert_id:int}}/ack", ack, methods=post),
        Route(f"{prefix}/alerts/{{alert_id:int}}/resolve", resolve, methods=post),
        Route(f"{prefix}/alerts/{{alert_id:int}}/silence", silence_alert, methods=post),
    ]

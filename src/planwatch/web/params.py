"""Query-string parsing for the API and the pages: bad input is a 400 that says what is wrong."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.exceptions import HTTPException
from starlette.requests import Request

from planwatch.model.alerts import AlertKind, AlertStatus, NotificationStatus
from planwatch.model.checks import CheckStatus
from planwatch.model.findings import Severity
from planwatch.model.jobs import JobStatus
from planwatch.storage.readmodels import MAX_ID

MAX_TEXT = 200  # names, hashes: longer values cannot match anything stored
NO_NUL = r"^[^\u0000]*$"  # the schema pattern of a text without NUL (rejected by `text`)

# The values each filter accepts (the handlers and the OpenAPI document both use these).
ALERT_STATUSES = ("open", "all", *(s.value for s in AlertStatus if s is not AlertStatus.OPEN))
KINDS = tuple(k.value for k in AlertKind)
SEVERITIES = tuple(s.value for s in Severity)
CHECK_STATUSES = tuple(s.value for s in CheckStatus)
JOB_STATUSES = tuple(s.value for s in JobStatus)
NOTIFICATION_STATUSES = tuple(s.value for s in NotificationStatus)
QUERY_ORDERS = ("total", "regression")


@dataclass(frozen=True, slots=True)
class Limit:
    """The `limit` parameter of a list: its default and largest value."""

    default: int
    most: int


LIMIT = Limit(100, 1000)
QUERY_LIMIT = Limit(50, 500)


def integer(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPException(400, f"{name}: expected an integer, got {raw[:40]!r}") from None
    if not lo <= value <= hi:
        raise HTTPException(400, f"{name}: must be between {lo} and {hi}")
    return value


def limit(request: Request, spec: Limit = LIMIT) -> int:
    return integer(request, "limit", spec.default, 1, spec.most)


def choice(
    request: Request, name: str, choices: Collection[str], default: str | None
) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise HTTPException(400, f"{name}: expected one of {', '.join(sorted(choices))}")
    return raw


def text(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_TEXT or "\x00" in raw:
        raise HTTPException(400, f"{name}: at most {MAX_TEXT} characters, no NUL")
    return raw


def path_id(request: Request, name: str) -> int:
    """An integer path parameter; ids outside the storable range cannot exist (404)."""
    value: int = request.path_params[name]
    if not 0 < value <= MAX_ID:
        raise HTTPException(404, f"{name.removesuffix('_id')} {value} does not exist")
    return value


def path_text(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    if len(value) > MAX_TEXT or "\x00" in value:
        raise HTTPException(404, f"no {name} {value[:40]!r}")
    return value


RANGES = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "24h": timedelta(days=1),
          "7d": timedelta(days=7), "30d": timedelta(days=30)}


def window(request: Request, now: datetime, default: str = "24h") -> tuple[str, datetime]:
    """The `range` parameter (1h, 6h, 24h, 7d, 30d) as its name and start time."""
    name = choice(request, "range", RANGES, default) or default
    return name, now - RANGES[name]

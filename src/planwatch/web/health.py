"""Health model: Healthy/Degraded/Unhealthy per check, overall = worst; 503 only for Unhealthy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from planwatch.errors import StorageError
from planwatch.storage import targets

if TYPE_CHECKING:
    from planwatch.web.services import WebServices


class Status(IntEnum):
    HEALTHY = 0
    DEGRADED = 1
    UNHEALTHY = 2

    @property
    def label(self) -> str:
        return self.name.capitalize()


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    message: str = ""


def liveness(web: WebServices, now: datetime) -> list[Check]:
    """The event loop and scheduler make progress; never depends on monitored databases."""
    age = now - web.jobs.last_tick
    ok = age < timedelta(seconds=60)
    return [Check("scheduler", Status.HEALTHY if ok else Status.UNHEALTHY,
                  f"last tick {age.total_seconds():.1f}s ago")]


def storage_check(web: WebServices) -> Check:
    try:
        web.storage.ping()
        current = web.storage.schema_current()
    except Exception as exc:
        return Check("storage", Status.UNHEALTHY, f"unreachable: {exc}")
    if not current:
        return Check("storage", Status.UNHEALTHY, "schema is not current: run planwatch migrate")
    return Check("storage", Status.HEALTHY, web.storage.dialect)


def job_checks(web: WebServices) -> list[Check]:
    out = []
    for js in web.jobs.states():
        if js.unhealthy:
            retry = f"; next retry {js.next_run:%H:%M:%S} UTC" if js.next_run else ""
            out.append(Check(f"job:{js.name}", Status.DEGRADED,
                             f"{js.consecutive_failures} consecutive failures{retry}"))
    return out


def target_checks(web: WebServices) -> list[Check]:
    """Blocking: every enabled target's state as storage has it (the same on every worker,
    whichever collected it last); nothing when storage cannot say (the storage check does)."""
    try:
        known = {r.name: r for r in targets.list_all(web.storage)}
    except StorageError:
        return []
    out = []
    for t in web.settings.targets:
        if not t.enabled:
            continue
        r = known.get(t.name)
        if r is None or r.up is None:
            out.append(Check(f"target:{t.name}", Status.HEALTHY, "not polled yet"))
        elif r.up:
            out.append(Check(f"target:{t.name}", Status.HEALTHY, "up"))
        else:
            out.append(Check(f"target:{t.name}", Status.DEGRADED, r.last_error or "down"))
    return out


def health_job_checks(web: WebServices, live: list[Check]) -> list[Check]:
    """Findings of the health_check job that the live checks do not cover (e.g. channels).

    Its storage verdict is never used: storage is checked live. A report older than ten
    minutes is ignored (the job is not running).
    """
    report = web.state.health_report
    if report is None or datetime.now(report.at.tzinfo) - report.at > timedelta(minutes=10):
        return []
    seen = {c.name for c in live} | {"storage"}
    return [Check(i.name, Status(min(i.status, Status.DEGRADED)), i.message)
            for i in report.items if i.name not in seen]


def readiness(web: WebServices) -> list[Check]:
    live = [storage_check(web), *job_checks(web), *target_checks(web)]
    return [*live, *health_job_checks(web, live)]


def everything(web: WebServices, now: datetime) -> list[Check]:
    return [*liveness(web, now), *readiness(web)]


def report(checks: list[Check]) -> tuple[int, dict[str, Any]]:
    overall = max((c.status for c in checks), default=Status.HEALTHY)
    body = {
        "status": overall.label,
        "checks": {c.name: {"status": c.status.label, "message": c.message} for c in checks},
    }
    return (503 if overall is Status.UNHEALTHY else 200), body

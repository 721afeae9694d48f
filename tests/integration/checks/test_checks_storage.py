"""check_results, the monitoring summary and check alerts, on SQLite and PostgreSQL storage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from checks_support import check, settings

from planwatch.devtools import pgcluster
from planwatch.errors import StorageError
from planwatch.jobs import checks as checks_job
from planwatch.jobs.checks import CheckService
from planwatch.model.alerts import AlertStatus
from planwatch.model.checks import CheckResult, CheckStatus
from planwatch.storage import alerts, check_results
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OK, WARN, CRIT, ERR = (CheckStatus.OK, CheckStatus.WARNING, CheckStatus.CRITICAL,
                       CheckStatus.ERROR)


@pytest.fixture
async def service(storage: Storage) -> AsyncIterator[CheckService]:
    s = settings("sqlite:///unused.db", "sqlite",
                 check("backlog", "SELECT 1", warning="> 10", runbook_url="https://rb/backlog"),
                 check("by-region", "SELECT 1", result="dataset", value_column="n",
                       label_columns=("region",), warning="> 0"))
    svc = CheckService(s, storage)
    yield svc
    await svc.aclose()


def _r(status: CheckStatus, at: datetime, value: float | None = 1.0, check: str = "backlog",
       target: str = "db", labels: tuple[tuple[str, str], ...] = ()) -> CheckResult:
    return CheckResult(check, target, status, f"{status.value} {value}", at, 2.5, value,
                       labels=labels)


def test_results_round_trip_and_summary(storage: Storage) -> None:
    old = T0 - timedelta(days=8)
    rows = [
        _r(OK, old), _r(CRIT, T0 - timedelta(days=2)), _r(OK, T0 - timedelta(hours=1)),
        _r(OK, T0, 5.0), _r(WARN, T0, 3.0, check="by-region", labels=(("region", "eu"),)),
        _r(OK, T0, 0.0, check="by-region", labels=(("region", "us"),)),
        _r(ERR, T0 - timedelta(minutes=1), None, check="by-region"),
        _r(OK, T0, 1.0, target="other"),
    ]
    assert check_results.insert(storage, rows) == len(rows)
    (newest, *_) = check_results.recent(storage, check="by-region", limit=5)
    assert newest.executed_at == T0 and newest.duration_ms == 2.5
    summary = {(s.check, s.target): s for s in check_results.summary(storage, T0, days=7)}
    assert sorted(summary) == [("backlog", "db"), ("backlog", "other"), ("by-region", "db")]
    backlog = summary[("backlog", "db")]
    assert (backlog.last_status, backlog.last_at, backlog.last_value) == (OK, T0, 5.0)
    assert (backlog.runs, backlog.ok, backlog.success_rate) == (3, 2, 2 / 3)
    region = summary[("by-region", "db")]
    assert (region.last_status, region.runs, region.ok) == (WARN, 3, 1)
    assert check_results.delete_before(storage, T0 - timedelta(days=7), batch_size=1) == 1
    assert len(check_results.recent(storage, limit=100)) == len(rows) - 1


def _alerts(storage: Storage) -> dict[str, tuple[str, str, str]]:
    return {a.subject: (a.status.value, a.severity.value, a.details["status"])
            for a in alerts.list_alerts(storage, status="all", kind="check")}


def _events(storage: Storage, subject: str) -> list[tuple[str, str]]:
    (alert,) = [a for a in alerts.list_alerts(storage, status="all") if a.subject == subject]
    return [(e.event, e.message) for e in alerts.events(storage, alert.id or 0)]


async def test_check_alert_lifecycle(service: CheckService, storage: Storage) -> None:
    """Defaults: a failure opens after one interval (1 s here), two ok runs resolve."""
    def at(seconds: int) -> datetime:
        return T0 + timedelta(seconds=seconds)

    service.persist([_r(OK, T0)], T0)
    assert _alerts(storage) == {}
    service.persist([_r(CRIT, T0), _r(CRIT, at(1))], at(1))
    assert _alerts(storage) == {"backlog": ("pending", "critical", "critical")}
    service.persist([_r(CRIT, at(2))], at(2))
    assert _alerts(storage) == {"backlog": ("open", "critical", "critical")}
    (alert,) = alerts.list_alerts(storage, kind="check")
    assert alert.dedup_key == "check:db::backlog" and alert.opened_at == at(2)
    assert alert.details["runbook_url"] == "https://rb/backlog"
    service.persist([_r(WARN, at(3))], at(3))
    service.persist([_r(ERR, at(4), None)], at(4))
    assert _alerts(storage) == {"backlog": ("open", "warning", "error")}
    service.persist([_r(OK, at(5))], at(5))
    assert _alerts(storage)["backlog"][0] == "open"  # one ok run is not enough
    service.persist([_r(OK, at(6))], at(6))
    assert _alerts(storage) == {"backlog": ("resolved", "warning", "error")}
    service.persist([_r(CRIT, at(7))], at(7))
    service.persist([_r(CRIT, at(8))], at(8))
    assert len(alerts.list_alerts(storage, status="all", kind="check")) == 1  # reopened
    events = _events(storage, "backlog")
    assert [e for e, _ in events] == ["pending", "opened", "updated", "updated", "resolved",
                                      "pending", "reopened"]
    assert events[1][1] == "critical: critical 1.0 (held for 0m01s)"
    assert events[2][1] == "severity critical -> warning (status critical -> warning)"
    assert events[4][1] == "check ok again for 2 consecutive evaluations"


async def test_a_failure_shorter_than_for_is_dropped(
    service: CheckService, storage: Storage
) -> None:
    service.persist([_r(CRIT, T0)], T0)
    service.persist([_r(OK, T0 + timedelta(milliseconds=500))], T0 + timedelta(milliseconds=500))
    assert _alerts(storage) == {"backlog": ("resolved", "critical", "critical")}
    assert [e for e, _ in _events(storage, "backlog")] == ["pending", "dropped"]


async def test_dataset_rows_alert_separately(service: CheckService, storage: Storage) -> None:
    eu, us = (("region", "eu"),), (("region", "us"),)
    for second in (0, 1):  # failing for one interval: open
        t = T0 + timedelta(seconds=second)
        service.persist([_r(WARN, t, 3, "by-region", labels=eu),
                         _r(WARN, t, 2, "by-region", labels=us)], t)
    assert {s: v[0] for s, v in _alerts(storage).items()} == {
        "by-region{region=eu}": "open", "by-region{region=us}": "open"}
    later = T0 + timedelta(seconds=2)
    service.persist([_r(ERR, later, None, "by-region")], later)  # run failed: rows unknown
    assert {s: v[0] for s, v in _alerts(storage).items()} == {
        "by-region{region=eu}": "open", "by-region{region=us}": "open", "by-region": "pending"}
    for second in (3, 4):
        later = T0 + timedelta(seconds=second)
        service.persist([_r(WARN, later, 4, "by-region", labels=eu),
                         _r(OK, later, 0, "by-region", labels=(("region", "ap"),))], later)
    assert {s: v[0] for s, v in _alerts(storage).items()} == {
        "by-region{region=eu}": "open", "by-region{region=us}": "resolved",
        "by-region": "resolved"}
    assert _events(storage, "by-region{region=us}")[-1] == (
        "resolved", "no longer returned by the check for 2 consecutive evaluations")
    assert _events(storage, "by-region")[-1][0] == "dropped"
    assert all(a.status is AlertStatus.OPEN
               for a in alerts.list_alerts(storage, kind="check"))


async def test_results_wait_in_memory_while_storage_is_down(
    service: CheckService, storage: Storage
) -> None:
    down = Storage.open(f"postgresql+psycopg://nobody@127.0.0.1:{pgcluster.free_port()}/x"
                        "?connect_timeout=1")
    service.storage = down
    service.runner.requeue([_r(OK, T0), _r(CRIT, T0 + timedelta(seconds=1))])
    assert await service.flush() == 0
    assert service.storage_error is not None and "storage" in service.storage_error
    with pytest.raises(StorageError, match="check results are not being stored"):
        await checks_job.report(SimpleNamespace(checks=service), None)  # type: ignore[arg-type]
    service.storage = storage
    service.runner.requeue([_r(OK, T0 + timedelta(seconds=2))])
    assert await service.flush() == 3
    assert service.storage_error is None
    assert len(check_results.recent(storage)) == 3
    assert _alerts(storage) == {}  # the newest run was ok
    down.close()

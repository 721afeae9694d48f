"""Pure lifecycle of hotspot alerts: a lasting shift of database time opens one warning, its
persistence updates it, its end resolves it after the windows; regressions take precedence."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from planwatch.alerting import lifecycle
from planwatch.alerting.lifecycle import Action
from planwatch.model.alerts import AlertKind, AlertStatus
from planwatch.model.findings import Cause, HotspotShift, Regression, Severity
from planwatch.model.samples import QueryRef

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REF = QueryRef("orders-db", "shop", "101", "fp")
OTHER = QueryRef("orders-db", "shop", "202", "fp2")


def spot(ref: QueryRef = REF, *, share: float = 0.4, new: bool = False) -> HotspotShift:
    return HotspotShift(ref, share, 0.0 if new else 0.05, 1234.5, 100, new_query=new)


def run(active: dict, spots: list[HotspotShift], now: datetime = T0, **kw: object) -> list:  # type: ignore[type-arg]
    return lifecycle.hotspots(active, spots, evaluated_targets=["orders-db"],
                              texts={REF: "SELECT 1"}, resolve_after_windows=2, now=now, **kw)


def test_a_shift_opens_one_warning_with_its_shares() -> None:
    [opened, other] = run({}, [spot(), spot(OTHER, new=True)])
    alert = opened.alert
    assert opened.action is Action.OPEN and alert.kind is AlertKind.HOTSPOT
    assert alert.severity is Severity.WARNING and alert.query_id == "101"
    assert alert.query_text == "SELECT 1" and alert.details["share"] == 0.4
    assert alert.title == "query 101 takes 40% of the database time (was 5%)"
    assert other.alert.title.endswith("(a new query)")


def test_staying_in_the_top_updates_then_leaving_resolves_after_the_windows() -> None:
    [opened] = run({}, [spot()])
    active = {opened.alert.dedup_key: replace(opened.alert, id=7)}
    [tick] = run(active, [spot(share=0.5)], T0 + timedelta(minutes=5))
    assert tick.action is Action.TICK and tick.alert.details["share"] == 0.5
    active = {tick.alert.dedup_key: tick.alert}
    [one] = run(active, [], T0 + timedelta(minutes=10))
    active = {one.alert.dedup_key: one.alert}
    [done] = run(active, [], T0 + timedelta(minutes=15))
    assert done.action is Action.RESOLVE and done.alert.status is AlertStatus.RESOLVED


def test_a_regressing_query_is_not_paged_twice() -> None:
    assert run({}, [spot()], regressed=[REF]) == []
    slow = Regression(REF, Severity.CRITICAL, Cause.PLAN_CHANGE, 2.0, 12.0, 6.0, 0.001, 5e3,
                      100, 1000, "h1", "h2")
    [opened] = lifecycle.regressions({}, [slow], [], texts={}, resolve_after_windows=2, now=T0)
    assert run({opened.alert.dedup_key: opened.alert}, [spot()]) == []

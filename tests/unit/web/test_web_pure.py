"""Pure helpers of the web layer: plan text and diff, sparklines, plan-change markers,
session cookies and CSRF tokens, the page-data cache."""

from __future__ import annotations

import asyncio

import pytest

from planwatch.collectors import plans
from planwatch.model.plans import PlanNode
from planwatch.web import auth, charts, plantext, shapes
from planwatch.web.cache import ReadCache
from planwatch.web.dashboard_actions import safe_next

OLD = PlanNode("Nested Loop", join_type="Inner", children=(
    PlanNode("Index Scan", relation="customers", index="customers_pkey"),
    PlanNode("Index Scan", relation="orders", index="orders_customer_id_idx"),
))
NEW = PlanNode("Hash Join", join_type="Inner", children=(
    PlanNode("Seq Scan", relation="orders", flags=("parallel", "parent:outer")),
    PlanNode("Hash", children=(PlanNode("Index Scan", relation="customers",
                                         index="customers_pkey"),)),
))


def test_plan_lines_are_an_indented_tree_without_positional_flags() -> None:
    assert plantext.lines(NEW) == [
        "Hash Join",
        "  -> Seq Scan on orders {parallel}",
        "  -> Hash",
        "    -> Index Scan on customers using customers_pkey",
    ]


def test_side_by_side_aligns_lines_and_lists_the_readable_changes() -> None:
    view = plantext.side_by_side(plans.to_json(OLD), plans.to_json(NEW))
    assert view["readable"] is True
    assert "orders: Index Scan (orders_customer_id_idx) -> Seq Scan" in view["changes"]
    assert "customers, orders: Nested Loop -> Hash Join" in view["changes"]
    assert view["rows"][0] == {"left": "Nested Loop", "right": "Hash Join", "tag": "replace"}
    assert [r["left"] for r in view["rows"] if r["left"] is not None] == plantext.lines(OLD)
    assert [r["right"] for r in view["rows"]] == plantext.lines(NEW)


def test_equal_lines_are_aligned_as_equal() -> None:
    plan = plans.to_json(OLD)
    view = plantext.side_by_side(plan, plan)
    assert view["changes"] == [] and {r["tag"] for r in view["rows"]} == {"equal"}


def test_unreadable_plans_give_no_rows() -> None:
    assert plantext.side_by_side("not json", plans.to_json(NEW)) == {
        "changes": [], "rows": [], "readable": False}
    assert plantext.parse('{"no_op": 1}') is None


def test_plan_changes_skip_unknown_plans() -> None:
    t = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert shapes.plan_changes(t, ["a", None, "a", "b", "b"]) == [
        {"t": 4.0, "from": "a", "to": "b"}]
    assert shapes.plan_changes(t, [None] * 5) == []


def test_sparkline_scales_values_and_keeps_errors_on_the_baseline() -> None:
    line = charts.sparkline([{"value": 1, "status": "ok"}, {"value": None, "status": "error"},
                             {"value": 3, "status": "critical"}])
    assert line.path == "M2.0,22.0 L118.0,2.0"
    assert line.dots == ((2.0, 22.0, "ok"), (60.0, 22.0, "error"), (118.0, 2.0, "critical"))
    assert charts.sparkline([]).path == ""
    flat = charts.sparkline([{"value": 5, "status": "ok"}])
    assert flat.dots == ((2.0, 22.0, "ok"),)


def test_session_cookie_is_signed_and_expires() -> None:
    key = auth.Policy("tok", False).key
    cookie = auth.new_session(key, now=1000.0)
    session = auth.read_session(cookie, key, now=1001.0)
    assert session
    assert auth.read_session(cookie, key, now=1000.0 + auth.SESSION_SECONDS + 1) == ""
    assert auth.read_session(cookie, auth.Policy("other", False).key, now=1001.0) == ""
    sid, expires, sig = cookie.split(".")
    assert auth.read_session(f"{sid}.{int(expires) + 999}.{sig}", key, now=1001.0) == ""
    assert auth.read_session("garbage", key, now=1001.0) == ""
    assert auth.csrf_token(key, session) != auth.csrf_token(key, "another-session")


@pytest.mark.parametrize(("value", "expected"), [
    ("/alerts?status=all", "/alerts?status=all"), ("//evil.example/x", "/"),
    ("https://evil.example", "/"), ("/\\evil", "/"), (None, "/"),
])
def test_redirects_after_forms_stay_on_this_site(value: object, expected: str) -> None:
    assert safe_next(value) == expected


async def test_cache_shares_one_computation_and_serves_stale_while_refreshing() -> None:
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return calls

    cache = ReadCache(ttl_s=0.05)
    assert await asyncio.gather(*(cache.get("k", compute) for _ in range(5))) == [1] * 5
    assert calls == 1
    await asyncio.sleep(0.06)
    assert await cache.get("k", compute) == 1  # stale answer, refresh started
    await asyncio.sleep(0.03)
    assert await cache.get("k", compute) == 2
    cache.clear()
    assert await cache.get("k", compute) == 3


async def test_cache_does_not_keep_errors() -> None:
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("storage down")
        return "ok"

    cache = ReadCache(ttl_s=60)
    with pytest.raises(RuntimeError):
        await cache.get("k", flaky)
    assert await cache.get("k", flaky) == "ok"

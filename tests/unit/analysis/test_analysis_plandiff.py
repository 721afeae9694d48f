"""Readable plan diffs on hand-built plans and on real PostgreSQL EXPLAIN output."""

from __future__ import annotations

import json
from typing import Any

from planwatch.analysis import plandiff
from planwatch.model.plans import PlanChange, PlanNode
from shared_fixtures import FIXTURES as PLAN_FIXTURES

FIXTURES = PLAN_FIXTURES / "postgres"


def scan(op: str, rel: str, index: str | None = None, *flags: str) -> PlanNode:
    return PlanNode(op, relation=rel, index=index, flags=flags)


def test_identical_plans_have_no_changes() -> None:
    plan = PlanNode("Hash Join", join_type="Inner", children=(
        scan("Seq Scan", "orders"), PlanNode("Hash", children=(scan("Seq Scan", "customers"),))))
    assert plandiff.diff(plan, plan) == ()


def test_access_path_change() -> None:
    old = scan("Index Scan", "orders", "orders_customer_id_idx")
    new = scan("Seq Scan", "orders")
    assert plandiff.diff(old, new) == (
        PlanChange("access", "orders", "Index Scan (orders_customer_id_idx)", "Seq Scan"),)


def test_join_method_change_ignores_the_implied_hash_node() -> None:
    old = PlanNode("Nested Loop", join_type="Inner", children=(
        scan("Seq Scan", "customers"), scan("Index Scan", "orders", "orders_customer_id_idx")))
    new = PlanNode("Hash Join", join_type="Inner", children=(
        scan("Seq Scan", "customers"),
        PlanNode("Hash", children=(scan("Index Scan", "orders", "orders_customer_id_idx"),))))
    assert plandiff.describe(plandiff.diff(old, new)) == (
        "customers, orders: Nested Loop -> Hash Join",)


def test_join_type_is_shown_when_not_inner() -> None:
    old = PlanNode("Hash Join", join_type="Inner", children=(
        scan("Seq Scan", "a"), PlanNode("Hash", children=(scan("Seq Scan", "b"),))))
    new = PlanNode("Hash Join", join_type="Semi", children=old.children)
    assert plandiff.describe(plandiff.diff(old, new)) == ("a, b: Hash Join -> Hash Join (Semi)",)


def test_added_sort_with_spill_and_parallel_scan() -> None:
    old = PlanNode("Limit", children=(scan("Index Scan", "orders", "orders_created_idx"),))
    new = PlanNode("Limit", children=(
        PlanNode("Sort", flags=("spill",), children=(
            PlanNode("Gather", children=(scan("Seq Scan", "orders", None, "parallel"),)),)),))
    assert plandiff.describe(plandiff.diff(old, new)) == (
        "orders: Index Scan (orders_created_idx) -> Seq Scan",
        "orders: + Gather",
        "orders: + Sort",
        "orders: + parallel",
        "orders: + spill (Sort)",
    )


def test_relation_appearing_and_join_order() -> None:
    old = PlanNode("Nested Loop", join_type="Inner", children=(
        scan("Seq Scan", "a"), scan("Index Scan", "b", "b_pkey")))
    new = PlanNode("Nested Loop", join_type="Inner", children=(
        PlanNode("Nested Loop", join_type="Inner", children=(
            scan("Index Scan", "b", "b_pkey"), scan("Seq Scan", "a"))),
        scan("Index Scan", "c", "c_pkey")))
    assert plandiff.describe(plandiff.diff(old, new)) == (
        "c: + Index Scan (c_pkey)",
        "join order: (a ⋈ b) -> ((b ⋈ a) ⋈ c)",
    )


def _node(raw: dict[str, Any]) -> PlanNode:
    """Just enough of the PostgreSQL EXPLAIN (FORMAT JSON) shape for this test."""
    return PlanNode(
        op=raw["Node Type"],
        relation=raw.get("Relation Name"),
        index=raw.get("Index Name"),
        join_type=raw.get("Join Type"),
        flags=("parallel",) if raw.get("Parallel Aware") else (),
        children=tuple(_node(c) for c in raw.get("Plans", ())),
    )


def _fixture(name: str) -> PlanNode:
    return _node(json.loads((FIXTURES / name).read_text())[0]["Plan"])


def test_real_postgres_plans_dropping_an_index() -> None:
    with_index = _fixture("pg15_generic_after_index.json")
    without = _fixture("pg15_generic_before_index.json")
    lines = plandiff.describe(plandiff.diff(with_index, without))
    assert lines[0] == "orders: Bitmap Heap Scan (orders_customer_id_idx) -> Seq Scan"
    assert "join order: (customers ⋈ orders) -> (orders ⋈ customers)" in lines
    assert "orders: + Gather Merge" in lines
    assert "customers: + Materialize" in lines
    assert "orders: + parallel" in lines
    assert not any(line.startswith("customers: ") and "Index Scan" in line for line in lines)
    back = plandiff.describe(plandiff.diff(without, with_index))
    assert back[0] == "orders: Seq Scan -> Bitmap Heap Scan (orders_customer_id_idx)"


def test_positional_flags_are_not_reported() -> None:
    old = PlanNode("Nested Loop", join_type="Inner", children=(
        scan("Seq Scan", "a", None, "parent:Outer"), scan("Seq Scan", "b", None, "parent:Inner")))
    new = PlanNode("Nested Loop", join_type="Inner", children=(
        scan("Seq Scan", "b", None, "parent:Outer", "scan:Backward"),
        scan("Seq Scan", "a", None, "parent:Inner")))
    assert plandiff.describe(plandiff.diff(old, new)) == ("join order: (a ⋈ b) -> (b ⋈ a)",)


def test_plans_from_the_postgres_parser() -> None:
    from planwatch.collectors import pg_plans

    with_index = pg_plans.parse((FIXTURES / "pg15_generic_after_index.json").read_text())
    without = pg_plans.parse((FIXTURES / "pg15_generic_before_index.json").read_text())
    lines = plandiff.describe(plandiff.diff(with_index, without))
    assert lines[0] == (
        "public.orders: Bitmap Heap Scan (orders_customer_id_idx) -> Seq Scan")
    assert "public.orders: + parallel" in lines
    assert not any("parent:" in line or "scan:" in line for line in lines)

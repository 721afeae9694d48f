"""EXPLAIN JSON → PlanNode and shape hashes, on the real plans in tests/fixtures/plans/postgres."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from planwatch.collectors import pg_plans, plans
from planwatch.model.samples import QueryRef
from shared_fixtures import FIXTURES

PG = FIXTURES / "postgres"
REF = QueryRef("pg1", "shop", "42", "f00d")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def doc(name: str) -> Any:
    return json.loads((PG / name).read_text())


def walk(node: Any) -> list[Any]:
    return [node, *(n for child in node.children for n in walk(child))]


@pytest.mark.parametrize("name", sorted(p.name for p in PG.iterdir()))
def test_every_fixture_parses_and_hashes_stably(name: str) -> None:
    text = (PG / name).read_text()
    first, second = pg_plans.parse(text), pg_plans.parse(text)
    assert plans.shape_hash(first) == plans.shape_hash(second)
    assert len(plans.shape_hash(first)) == 16


def test_generic_plans_before_and_after_the_index_hash_differently() -> None:
    before = pg_plans.capture(REF, (PG / "pg15_generic_before_index.json").read_text(), NOW)
    after = pg_plans.capture(REF, (PG / "pg15_generic_after_index.json").read_text(), NOW)
    assert before.plan_hash != after.plan_hash
    ops_before = {n.op for n in walk(plans.from_json(before.plan_json))}
    ops_after = {(n.op, n.index) for n in walk(plans.from_json(after.plan_json))}
    assert "Seq Scan" in ops_before
    assert ("Bitmap Index Scan", "orders_customer_id_idx") in ops_after


def test_costs_and_estimates_do_not_change_the_hash() -> None:
    original = doc("pg15_generic_before_index.json")
    changed = copy.deepcopy(original)

    def bump(node: dict[str, Any]) -> None:
        node["Total Cost"] = node.get("Total Cost", 0) * 3 + 1
        node["Plan Rows"] = 123456
        node["Output"] = ["x"]
        for child in node.get("Plans", []):
            bump(child)

    bump(changed[0]["Plan"])
    assert pg_plans.capture(REF, original, NOW).plan_hash == pg_plans.capture(
        REF, changed, NOW).plan_hash


def test_shape_changes_change_the_hash() -> None:
    original = doc("pg15_generic_after_index.json")
    changed = copy.deepcopy(original)
    changed[0]["Plan"]["Plans"][0]["Node Type"] = "Incremental Sort"
    assert pg_plans.parse(original) != pg_plans.parse(changed)
    assert plans.shape_hash(pg_plans.parse(original)) != plans.shape_hash(pg_plans.parse(changed))


def test_node_fields_follow_engines_reference() -> None:
    root = pg_plans.parse((PG / "pg15_generic_after_index.json").read_text())
    nodes = walk(root)
    index_scan = next(n for n in nodes if n.op == "Index Scan")
    assert index_scan.index == "customers_pkey"
    assert index_scan.relation == "public.customers"  # VERBOSE output carries the schema
    assert "scan:Forward" in index_scan.flags and "parent:Outer" in index_scan.flags
    join = next(n for n in nodes if n.op == "Nested Loop")
    assert join.join_type == "Inner"
    assert "Total Cost" in root.estimates and "Total Cost" not in plans.shape_tokens(root)[0]


def test_parallel_and_actuals() -> None:
    before = walk(pg_plans.parse((PG / "pg15_generic_before_index.json").read_text()))
    assert any("parallel" in n.flags for n in before)
    analyzed = pg_plans.parse((PG / "pg15_analyze_buffers.json").read_text())
    assert "Actual Rows" in analyzed.estimates


def test_psql_framed_text_parses() -> None:
    root = pg_plans.parse((PG / "pev2_psql_framed_json.plan").read_text())
    assert root.op == "Nested Loop" and root.join_type == "Inner"
    assert [c.relation for c in root.children] == ["users", "part_0"]


def test_aligned_psql_output_with_continuation_marks_parses() -> None:
    framed = (
        "              QUERY PLAN\n"
        "--------------------------------------\n"
        ' [                                   +\n'
        '   {                                 +\n'
        '     "Plan": {                       +\n'
        '       "Node Type": "Seq Scan",      +\n'
        '       "Relation Name": "t"          +\n'
        "     }                               +\n"
        "   }                                 +\n"
        " ]\n(1 row)\n"
    )
    assert pg_plans.parse(framed).relation == "t"


def test_capture_keeps_raw_json_and_normalized_plan() -> None:
    captured = pg_plans.capture(REF, doc("pg15_generic_before_index.json"), NOW)
    assert captured.ref == REF and captured.captured_at == NOW
    assert json.loads(captured.raw)[0]["Plan"]["Node Type"] == "Limit"
    assert plans.from_json(captured.plan_json).op == "Limit"


@pytest.mark.parametrize("bad", ["", "not a plan", "[]", '[{"foo": 1}]'])
def test_garbage_is_rejected(bad: str) -> None:
    with pytest.raises(pg_plans.PlanParseError):
        pg_plans.parse(bad)


def test_fixture_dir_exists() -> None:
    assert isinstance(PG, Path) and (PG / "pg15_generic_before_index.json").exists()

"""EXPLAIN FORMAT=JSON parsing and hashing, on real MariaDB output (tests/fixtures/mysql)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from planwatch.collectors import mysql_plans, plans
from planwatch.model.plans import PlanNode
from planwatch.model.samples import QueryRef

MYSQL_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mysql"
FILES = sorted(MYSQL_FIXTURES.glob("*.json"))


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((MYSQL_FIXTURES / f"{name}.json").read_text())
    return doc


def walk(node: PlanNode) -> list[PlanNode]:
    return [node, *(n for c in node.children for n in walk(c))]


def table(node: PlanNode, relation: str) -> PlanNode:
    (found,) = [n for n in walk(node) if n.relation == relation]
    return found


def test_fixtures_exist() -> None:
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_fixture_parses_and_hashes(path: Path) -> None:
    root = mysql_plans.parse(path.read_text())
    assert walk(root)[-1].relation is not None  # reached at least one table
    assert len(mysql_plans.plan_hash(path.read_bytes())) == 16


@pytest.mark.parametrize(
    ("indexed", "no_index"),
    [
        ("mariadb_customer_orders_indexed", "mariadb_customer_orders_no_index"),
        ("mariadb_region_join_indexed", "mariadb_region_join_no_index"),
        ("mariadb_pinned_join_indexed", "mariadb_pinned_join_no_index"),
    ],
)
def test_dropping_the_index_changes_the_hash(indexed: str, no_index: str) -> None:
    assert mysql_plans.plan_hash(load(indexed)) != mysql_plans.plan_hash(load(no_index))


def test_join_through_the_index_is_ref() -> None:
    o = table(mysql_plans.parse(load("mariadb_region_join_indexed")), "o")
    assert (o.op, o.index, o.strategy) == ("ref", "orders_customer_id_idx", "customer_id")
    assert o.estimates["rows"] == 4


def test_join_without_the_index_uses_a_join_buffer() -> None:
    root = mysql_plans.parse(load("mariadb_pinned_join_no_index"))
    assert root.op == mysql_plans.NESTED_LOOP
    assert [c.relation for c in root.children] == ["c", "o"]
    o = root.children[1]
    assert (o.op, o.index, o.join_type) == ("ALL", None, "BNL")
    assert "join_buffer" in o.flags


def test_join_order_flip_shows_eq_ref() -> None:
    root = mysql_plans.parse(load("mariadb_region_join_no_index"))
    assert [(c.relation, c.op) for c in root.children] == [("o", "ALL"), ("c", "eq_ref")]
    assert root.children[1].index == "PRIMARY"


def test_same_plan_parsed_twice_hashes_the_same() -> None:
    raw = (MYSQL_FIXTURES / "mariadb_region_totals_filesort.json").read_text()
    assert mysql_plans.plan_hash(raw) == mysql_plans.plan_hash(raw)
    assert mysql_plans.parse(raw) == mysql_plans.parse(raw)


def test_changed_row_estimates_keep_the_hash() -> None:
    before = load("mariadb_region_join_indexed")
    after = load("mariadb_region_join_indexed_more_rows")  # real re-capture after 30k inserts
    assert table(mysql_plans.parse(before), "o").estimates["rows"] != table(
        mysql_plans.parse(after), "o"
    ).estimates["rows"]
    assert mysql_plans.plan_hash(before) == mysql_plans.plan_hash(after)
    edited = copy.deepcopy(before)
    edited["query_block"]["nested_loop"][0]["table"]["rows"] = 123456
    edited["query_block"]["nested_loop"][0]["table"]["filtered"] = 3.5
    assert mysql_plans.plan_hash(edited) == mysql_plans.plan_hash(before)


def test_key_and_key_parts_are_part_of_the_shape() -> None:
    base = load("mariadb_region_join_indexed")
    other_key = copy.deepcopy(base)
    other_key["query_block"]["nested_loop"][1]["table"]["key"] = "orders_other_idx"
    more_parts = copy.deepcopy(base)
    more_parts["query_block"]["nested_loop"][1]["table"]["used_key_parts"] = ["customer_id", "x"]
    hashes = {mysql_plans.plan_hash(d) for d in (base, other_key, more_parts)}
    assert len(hashes) == 3


def test_analyze_output_hashes_like_explain() -> None:
    analyzed = mysql_plans.parse(load("mariadb_region_join_indexed_analyze"))
    assert plans.shape_hash(analyzed) == mysql_plans.plan_hash(load("mariadb_region_join_indexed"))
    assert table(analyzed, "o").estimates["r_rows"] == 10


def test_filesort_and_temporary_wrappers_are_nodes() -> None:
    root = mysql_plans.parse(load("mariadb_region_totals_filesort"))
    assert [n.op for n in walk(root)][:3] == ["filesort", "temporary_table", "Nested Loop"]
    ordered = mysql_plans.parse(load("mariadb_customer_orders_indexed"))
    assert [n.op for n in walk(ordered.children[1])] == ["read_sorted_file", "filesort", "ref"]


def test_range_scan() -> None:
    root = mysql_plans.parse(load("mariadb_date_range"))
    assert (root.op, root.relation, root.index) == ("range", "orders", "orders_created_at_idx")
    assert root.estimates["select_id"] == 1


def test_materialized_subquery_and_union() -> None:
    sub = table(mysql_plans.parse(load("mariadb_in_subquery")), "<subquery2>")
    assert [n.op for n in walk(sub)] == ["eq_ref", "materialized", "ALL"]
    union = mysql_plans.parse(load("mariadb_union"))
    assert union.op == "union_result"
    parts = [(c.relation, c.op) for c in union.children]
    assert parts == [("customers", "ALL"), ("orders", "range")]


def test_update_is_flagged() -> None:
    root = mysql_plans.parse(load("mariadb_update_range"))
    assert (root.op, root.relation, root.flags) == ("range", "orders", ("update",))


# MySQL 8.0 shape per engines.md §2.2 (no MySQL server installable here; MariaDB files are real).
MYSQL8: dict[str, Any] = {
    "query_block": {
        "select_id": 1,
        "cost_info": {"query_cost": "1834.25"},
        "ordering_operation": {
            "using_filesort": True,
            "using_temporary_table": True,
            "nested_loop": [
                {"table": {
                    "table_name": "c", "access_type": "ALL", "possible_keys": ["PRIMARY"],
                    "rows_examined_per_scan": 2000, "rows_produced_per_join": 500,
                    "filtered": "25.00",
                    "cost_info": {"read_cost": "151.00", "eval_cost": "50.00",
                                  "prefix_cost": "201.00", "data_read_per_join": "312K"},
                    "used_columns": ["id", "name", "region"],
                    "attached_condition": "(`shop`.`c`.`region` = 'north')",
                }},
                {"table": {
                    "table_name": "o", "access_type": "ref",
                    "possible_keys": ["orders_customer_id_idx"], "key": "orders_customer_id_idx",
                    "used_key_parts": ["customer_id"], "key_length": "4", "ref": ["shop.c.id"],
                    "rows_examined_per_scan": 10, "rows_produced_per_join": 5000,
                    "filtered": "100.00",
                    "cost_info": {"read_cost": "1250.00", "eval_cost": "500.00",
                                  "prefix_cost": "1951.00", "data_read_per_join": "1M"},
                    "used_columns": ["id", "customer_id", "total"],
                }},
            ],
        },
    }
}


def test_mysql8_shape() -> None:
    root = mysql_plans.parse(MYSQL8)
    assert (root.op, root.flags) == ("ordering_operation", ("filesort", "temporary"))
    assert root.estimates["query_cost"] == pytest.approx(1834.25)
    o = table(root, "o")
    assert (o.op, o.index, o.strategy) == ("ref", "orders_customer_id_idx", "customer_id")
    assert o.estimates["filtered"] == 100.0 and o.estimates["prefix_cost"] == 1951.0


def test_mysql8_hash_join_and_cost_changes() -> None:
    cheaper = copy.deepcopy(MYSQL8)
    cheaper["query_block"]["cost_info"]["query_cost"] = "9.99"
    assert mysql_plans.plan_hash(cheaper) == mysql_plans.plan_hash(MYSQL8)
    hashed = copy.deepcopy(MYSQL8)
    inner = hashed["query_block"]["ordering_operation"]["nested_loop"][1]["table"]
    inner.update(access_type="ALL", key=None, used_key_parts=None, using_join_buffer="hash join")
    o = table(mysql_plans.parse(hashed), "o")
    assert (o.op, o.join_type, o.flags) == ("ALL", "hash join", ("join_buffer",))
    assert mysql_plans.plan_hash(hashed) != mysql_plans.plan_hash(MYSQL8)


def test_mysql8_single_table_and_dependent_subquery() -> None:
    doc = {"query_block": {
        "select_id": 1, "cost_info": {"query_cost": "2.5"},
        "table": {"table_name": "customers", "access_type": "const", "key": "PRIMARY",
                  "used_key_parts": ["id"]},
        "select_list_subqueries": [{"dependent": True, "cacheable": False, "query_block": {
            "select_id": 2,
            "table": {"table_name": "orders", "access_type": "ALL"},
        }}],
    }}
    root = mysql_plans.parse(doc)
    assert root.op == mysql_plans.QUERY_BLOCK
    assert [n.op for n in walk(root)] == [
        "Query Block", "const", "select_list_subqueries", "ALL"
    ]
    assert "dependent" in table(root, "orders").flags


def test_no_tables_message() -> None:
    root = mysql_plans.parse('{"query_block": {"select_id": 1, "message": "No tables used"}}')
    assert root.op == "No tables used"


@pytest.mark.parametrize(
    "raw", ["not json", "[1, 2]", '{"select_id": 1}', '{"query": "x", "inputs": []}']
)
def test_rejects_what_it_cannot_read(raw: str) -> None:
    with pytest.raises(mysql_plans.MysqlPlanError):
        mysql_plans.parse(raw)


def test_captured_plan_round_trips() -> None:
    raw = (MYSQL_FIXTURES / "mariadb_pinned_join_no_index.json").read_text()
    ref = QueryRef(target="shop-db", database="shop", query_id="0f" * 16)
    at = datetime(2026, 1, 2, tzinfo=UTC)
    cp = mysql_plans.captured_plan(ref, raw, at)
    assert cp.plan_hash == mysql_plans.plan_hash(raw)
    assert cp.engine_plan_hash is None and cp.raw == raw
    assert plans.shape_hash(plans.from_json(cp.plan_json)) == cp.plan_hash

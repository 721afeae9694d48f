"""MySQL 8 / MariaDB `EXPLAIN FORMAT=JSON` → the engine-independent `PlanNode` tree.

Pure: no driver, no I/O. Both engines nest the same way — a `query_block` holding wrapper
objects (ordering_operation, filesort, temporary_table, ...), a `nested_loop` list or a single
`table` — so one recursive walk covers them. Each table becomes a node whose `op` is its
`access_type` (ALL, ref, eq_ref, range, ...); `index` is the key used and `strategy` the used
key parts, so the shape hash covers `table_name + access_type + key + used_key_parts` plus the
wrapper names (engines.md §2.2). `relation` is the table's name as EXPLAIN shows it, which is
the alias when the statement uses one. Row counts, costs and ANALYZE's r_* figures go to `estimates`
and never reach the hash. MySQL 8.3+'s `explain_json_format_version=2` (iterator tree) is a
different shape and is rejected.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from planwatch.collectors import plans
from planwatch.errors import PlanwatchError
from planwatch.model.plans import PlanNode
from planwatch.model.samples import CapturedPlan, QueryRef


class MysqlPlanError(PlanwatchError, ValueError):
    """The text is not a MySQL/MariaDB EXPLAIN FORMAT=JSON document this parser understands."""


NESTED_LOOP = "Nested Loop"
QUERY_BLOCK = "Query Block"

WRAPPERS = (
    "ordering_operation", "grouping_operation", "duplicates_removal", "windowing",
    "buffer_result", "filesort", "temporary_table", "read_sorted_file", "union_result",
    "materialized", "materialized_from_subquery", "expression_cache",
    "range-checked-for-each-record", "window_functions_computation",
)
"""Object keys that wrap more plan: each becomes a node named after the key."""

SUBQUERY_LISTS = (
    "subqueries", "optimized_away_subqueries", "having_subqueries", "select_list_subqueries",
    "update_value_subqueries", "order_by_subqueries", "group_by_subqueries", "attached_subqueries",
)
"""Keys holding a list of subquery blocks: each list becomes one node with a child per item."""

JOIN_BUFFERS = ("block-nl-join",)  # MariaDB: wraps a table read through a join buffer

TABLE_FLAGS = {
    "using_filesort": "filesort",
    "using_temporary_table": "temporary",
    "using_index": "covering_index",
    "using_MRR": "mrr",
    "using_index_for_group_by": "index_for_group_by",
    "distinct": "distinct",
    "first_match": "first_match",
    "loose_scan": "loose_scan",
    "loosescan": "loose_scan",
    "dependent": "dependent",
    "update": "update",
    "delete": "delete",
}
"""Shape facts reported as true/non-empty values, on tables and wrappers alike."""

TABLE_ESTIMATES = (
    "rows", "rows_examined_per_scan", "rows_produced_per_join", "filtered", "r_loops", "r_rows",
    "r_filtered", "r_total_time_ms", "r_table_time_ms", "r_other_time_ms",
)
TABLE_DETAILS = ("key_length", "possible_keys", "ref")  # kept as reported; no literals in them


def parse(raw: str | bytes | Mapping[str, Any]) -> PlanNode:
    """The plan tree of one EXPLAIN/ANALYZE FORMAT=JSON output."""
    doc = _load(raw)
    block = doc.get("query_block")
    if not isinstance(block, Mapping):
        if "inputs" in doc or "operation" in doc:
            raise MysqlPlanError("explain_json_format_version=2 is not supported; use version 1")
        raise MysqlPlanError("no query_block in EXPLAIN JSON")
    return _block(block)


def plan_hash(raw: str | bytes | Mapping[str, Any]) -> str:
    return plans.shape_hash(parse(raw))


def captured_plan(ref: QueryRef, raw: str, captured_at: datetime) -> CapturedPlan:
    """Normalize and hash one EXPLAIN output into what storage keeps (MySQL has no engine hash)."""
    root = parse(raw)
    return CapturedPlan(
        ref=ref, plan_hash=plans.shape_hash(root), plan_json=plans.to_json(root), raw=raw,
        captured_at=captured_at,
    )


def _load(raw: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MysqlPlanError(f"EXPLAIN output is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise MysqlPlanError("EXPLAIN JSON is not an object")
    return doc


def _block(block: Mapping[str, Any]) -> PlanNode:
    """A query_block: its single part, or a "Query Block" node when it has several."""
    parts = _content(block)
    estimates = _block_estimates(block)
    if len(parts) == 1:
        return dataclasses.replace(parts[0], estimates={**estimates, **parts[0].estimates})
    return PlanNode(op=QUERY_BLOCK, children=tuple(parts), estimates=estimates)


def _content(obj: Mapping[str, Any]) -> list[PlanNode]:
    """Plan nodes for the structural keys of one object, in document order."""
    nodes: list[PlanNode] = []
    for key, value in obj.items():
        if key == "table" and isinstance(value, Mapping):
            nodes.append(_table(value))
        elif key == "nested_loop" and isinstance(value, list):
            nodes.append(_nested_loop(value))
        elif key == "query_block" and isinstance(value, Mapping):
            nodes.append(_block(value))
        elif key in WRAPPERS and isinstance(value, Mapping | list):
            nodes.append(_wrapper(key, value))
        elif key in JOIN_BUFFERS and isinstance(value, Mapping):
            nodes.extend(_join_buffered(value))
        elif key in SUBQUERY_LISTS and isinstance(value, list):
            nodes.append(PlanNode(op=key, children=_items(value)))
        elif key == "message" and isinstance(value, str):
            nodes.append(PlanNode(op=value))
    return nodes


def _items(items: list[Any]) -> tuple[PlanNode, ...]:
    """Nodes of list items; an item's own flags (MySQL: `"dependent": true`) go to its nodes."""
    nodes: list[PlanNode] = []
    for item in items:
        if isinstance(item, Mapping):
            extra = _flags(item)
            nodes += [_add_flags(n, extra) for n in _content(item)]
    return tuple(nodes)


def _add_flags(node: PlanNode, flags: tuple[str, ...]) -> PlanNode:
    if not flags:
        return node
    return dataclasses.replace(node, flags=tuple(sorted({*node.flags, *flags})))


def _nested_loop(items: list[Any]) -> PlanNode:
    """Tables joined in order; a one-table "loop" (MariaDB's single-table form) is the table."""
    children = _items(items)
    if len(children) == 1:
        return children[0]
    return PlanNode(op=NESTED_LOOP, children=children)


def _wrapper(key: str, value: Mapping[str, Any] | list[Any]) -> PlanNode:
    if isinstance(value, list):
        children = _items(value)
        return PlanNode(op=key, children=children)
    if key == "union_result":
        return _union(value)
    return PlanNode(op=key, flags=_flags(value), children=tuple(_content(value)))


def _union(value: Mapping[str, Any]) -> PlanNode:
    specs = value.get("query_specifications", [])
    children = _items(specs) if isinstance(specs, list) else ()
    children += tuple(_content(value))
    return PlanNode(op="union_result", flags=_flags(value), children=children)


def _join_buffered(value: Mapping[str, Any]) -> list[PlanNode]:
    """MariaDB's block-nl-join: the inner table, flagged as read through a join buffer."""
    join_type = _str(value.get("join_type")) or "BNL"
    return [
        dataclasses.replace(
            _add_flags(node, ("join_buffer",)), join_type=join_type,
            estimates={**node.estimates, "buffer_type": value.get("buffer_type")},
        )
        for node in _content(value)
    ]


def _table(t: Mapping[str, Any]) -> PlanNode:
    op = _str(t.get("access_type")) or _str(t.get("message")) or "table"
    parts = t.get("used_key_parts")
    flags = set(_flags(t))
    join_buffer = _str(t.get("using_join_buffer"))  # MySQL: "hash join", "Block Nested Loop"
    if join_buffer:
        flags.add("join_buffer")
    return PlanNode(
        op=op,
        relation=_str(t.get("table_name")),
        index=_str(t.get("key")) or _merged_keys(t.get("index_merge")),
        join_type=join_buffer,
        strategy=",".join(str(p) for p in parts) if isinstance(parts, list) and parts else None,
        flags=tuple(sorted(flags)),
        children=tuple(_content({k: v for k, v in t.items() if k not in ("table", "message")})),
        estimates=_table_estimates(t),
    )


def _merged_keys(index_merge: Any) -> str | None:
    """MariaDB index_merge names its keys in nested range objects; list them in order."""
    keys: list[str] = []

    def walk(obj: Any) -> None:
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                if k == "key" and isinstance(v, str):
                    keys.append(v)
                else:
                    walk(v)
        elif isinstance(obj, list):
            for item in obj:
                walk(item)

    walk(index_merge)
    return ",".join(keys) or None


def _flags(obj: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted({flag for key, flag in TABLE_FLAGS.items() if obj.get(key)}))


def _table_estimates(t: Mapping[str, Any]) -> dict[str, Any]:
    est: dict[str, Any] = {k: _number(t[k]) for k in TABLE_ESTIMATES if k in t}
    est.update({k: t[k] for k in TABLE_DETAILS if k in t})
    cost = t.get("cost_info")
    if isinstance(cost, Mapping):
        est.update({k: _number(v) for k, v in cost.items()})
    return est


def _block_estimates(block: Mapping[str, Any]) -> dict[str, Any]:
    est: dict[str, Any] = {}
    if "select_id" in block:
        est["select_id"] = block["select_id"]
    cost = block.get("cost_info")
    if isinstance(cost, Mapping) and "query_cost" in cost:
        est["query_cost"] = _number(cost["query_cost"])
    for key in ("r_loops", "r_total_time_ms"):
        if key in block:
            est[key] = _number(block[key])
    return est


def _number(value: Any) -> Any:
    """MySQL reports costs and `filtered` as strings; keep numbers as numbers."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


_LOCKING = re.compile(
    r"\s+(?:FOR\s+UPDATE|FOR\s+SHARE|LOCK\s+IN\s+SHARE\s+MODE)"
    r"(?:\s+OF\s+[\w`.,\s]+?)?(?:\s+(?:NOWAIT|SKIP\s+LOCKED|WAIT\s+\d+))?\s*;?\s*$", re.I)


def without_locking(text: str) -> str:
    """The statement without its trailing locking clause: a read-only session may not
    EXPLAIN `SELECT ... FOR UPDATE`, and the clause does not change how rows are found."""
    return _LOCKING.sub("", text.rstrip().rstrip(";"))

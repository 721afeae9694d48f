"""PostgreSQL EXPLAIN (FORMAT JSON) → `PlanNode` tree and a hashed `CapturedPlan` (engines.md §1.7).

Only shape facts go into the node (operator, relation, index, join type, strategy, flags);
costs, row estimates and actual timings are kept in `estimates` for display and never hashed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from planwatch.collectors import plans
from planwatch.model.plans import PlanNode
from planwatch.model.samples import CapturedPlan, QueryRef

# key in the EXPLAIN node -> flag prefix (value appended as "prefix:value")
_FLAG_KEYS = {
    "Parent Relationship": "parent",
    "Partial Mode": "partial",
    "Scan Direction": "scan",
    "CTE Name": "cte",
    "Subplan Name": "subplan",
    "Operation": "operation",
}
_ESTIMATE_KEYS = (
    "Startup Cost", "Total Cost", "Plan Rows", "Plan Width", "Workers Planned",
    "Actual Startup Time", "Actual Total Time", "Actual Rows", "Actual Loops",
    "Alias", "Index Cond", "Recheck Cond", "Filter", "Join Filter", "Hash Cond",
    "Merge Cond", "Sort Key", "Group Key",
)


class PlanParseError(ValueError):
    """The text is not a PostgreSQL EXPLAIN (FORMAT JSON) plan."""


def load(explain: str | list[Any] | Mapping[str, Any]) -> list[Any]:
    """The EXPLAIN JSON document: parsed already, pure JSON text, or psql-framed text."""
    if isinstance(explain, Mapping):
        return [explain]
    if isinstance(explain, list):
        return explain
    return _parse_text(explain)


def _parse_text(text: str) -> list[Any]:
    starts = [i for i in (text.find("["), text.find("{")) if i >= 0]
    ends = [i for i in (text.rfind("]"), text.rfind("}")) if i >= 0]
    if not starts or not ends:
        raise PlanParseError("no JSON plan found")
    body = text[min(starts): max(ends) + 1]
    for candidate in (body, _unframe(body)):
        try:
            doc = json.loads(candidate)
        except ValueError:
            continue
        return doc if isinstance(doc, list) else [doc]
    raise PlanParseError("plan text is not valid JSON")


def _unframe(body: str) -> str:
    """Drop psql aligned-mode decorations: leading/trailing `|`, and `+` line continuations."""
    lines = []
    for line in body.splitlines():
        line = line.strip().strip("|").rstrip()
        lines.append(line[:-1] if line.endswith("+") else line)
    return "\n".join(lines)


def parse(explain: str | list[Any] | Mapping[str, Any]) -> PlanNode:
    """The root PlanNode of an EXPLAIN JSON document."""
    doc = load(explain)
    if not doc or not isinstance(doc[0], Mapping):
        raise PlanParseError("empty EXPLAIN document")
    top = doc[0]
    root = top.get("Plan", top)
    if not isinstance(root, Mapping) or "Node Type" not in root:
        raise PlanParseError("EXPLAIN document has no 'Plan' with a 'Node Type'")
    return to_node(root)


def to_node(node: Mapping[str, Any], hashed: frozenset[str] = frozenset()) -> PlanNode:
    """`hashed`: names of the subplans the parent's conditions use as `hashed SubPlan n`."""
    mine = _hashed_subplans(node)
    return PlanNode(
        op=str(node["Node Type"]),
        relation=_relation(node),
        index=node.get("Index Name"),
        join_type=node.get("Join Type"),
        strategy=node.get("Strategy"),
        flags=_flags(node, hashed),
        children=tuple(to_node(child, mine) for child in node.get("Plans", ())),
        estimates={k: node[k] for k in _ESTIMATE_KEYS if k in node},
    )


_CONDITIONS = ("Filter", "Join Filter", "Hash Cond", "Index Cond", "Recheck Cond",
               "One-Time Filter", "Merge Cond")
_HASHED = re.compile(r"hashed (SubPlan \d+)")


def _flag_value(key: str, value: Any, hashed: frozenset[str]) -> str:
    """`SubPlan n` is numbered by position: what matters is hashed or run again per row."""
    if key == "Subplan Name" and str(value).startswith("SubPlan "):
        return "hashed" if value in hashed else "per row"
    return str(value)


def _hashed_subplans(node: Mapping[str, Any]) -> frozenset[str]:
    """A hashed subplan (the whole subquery result in a hash table) and a plain one (run again
    for every row) are different plans: PostgreSQL says which only in the parent's condition."""
    text = " ".join(str(node[k]) for k in _CONDITIONS if k in node)
    return frozenset(_HASHED.findall(text))


def _relation(node: Mapping[str, Any]) -> str | None:
    name = node.get("Relation Name") or node.get("Function Name")
    if name is None:
        return None
    schema = node.get("Schema")
    return f"{schema}.{name}" if schema else str(name)


def _flags(node: Mapping[str, Any], hashed: frozenset[str]) -> tuple[str, ...]:
    flags = [f"{prefix}:{_flag_value(key, node[key], hashed)}"
             for key, prefix in _FLAG_KEYS.items() if node.get(key)]
    if node.get("Parallel Aware"):
        flags.append("parallel")
    return tuple(flags)


def capture(
    ref: QueryRef, explain_json: str | list[Any] | Mapping[str, Any], now: datetime
) -> CapturedPlan:
    """A CapturedPlan whose hash depends only on the plan's shape."""
    doc = load(explain_json)
    node = parse(doc)
    return CapturedPlan(
        ref=ref,
        plan_hash=plans.shape_hash(node),
        plan_json=plans.to_json(node),
        raw=json.dumps(doc),
        captured_at=now,
    )

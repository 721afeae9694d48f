"""Plans as indented text, and two plans side by side with the differing lines marked (pure)."""

from __future__ import annotations

import difflib
import json

from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from planwatch.analysis import plandiff
from planwatch.model.plans import PlanNode


class DiffRow(TypedDict):
    left: str | None
    right: str | None
    tag: str  # equal | replace | delete | insert (difflib's opcodes)


class SideBySide(TypedDict):
    changes: list[str]
    rows: list[DiffRow]
    readable: bool


def parse(plan_json: str) -> PlanNode | None:
    """The stored normalized plan; None when it is not a readable plan document."""
    try:
        return PlanNode.from_dict(json.loads(plan_json))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def label(node: PlanNode) -> str:
    parts = [node.op]
    if node.join_type and node.join_type != "Inner":
        parts.append(f"({node.join_type})")
    if node.relation:
        parts.append(f"on {node.relation}")
    if node.index:
        parts.append(f"using {node.index}")
    if node.strategy:
        parts.append(f"[{node.strategy}]")
    flags = [f for f in node.flags if not f.startswith(("parent:", "scan:"))]
    if flags:
        parts.append("{" + ", ".join(flags) + "}")
    return " ".join(parts)


def lines(node: PlanNode) -> list[str]:
    out: list[str] = []
    stack: list[tuple[PlanNode, int]] = [(node, 0)]
    while stack:
        n, depth = stack.pop()
        out.append(("  " * depth + "-> " if depth else "") + label(n))
        stack.extend((c, depth + 1) for c in reversed(n.children))
    return out


def side_by_side(old_json: str, new_json: str) -> SideBySide:
    """Rows of (left, right, tag) aligned by difflib, plus plandiff's readable changes."""
    old, new = parse(old_json), parse(new_json)
    if old is None or new is None:
        return {"changes": [], "rows": [], "readable": False}
    left, right = lines(old), lines(new)
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        a, b = left[i1:i2], right[j1:j2]
        for k in range(max(len(a), len(b))):
            rows.append({
                "left": a[k] if k < len(a) else None,
                "right": b[k] if k < len(b) else None,
                "tag": tag,
            })
    return {"changes": list(plandiff.describe(plandiff.diff(old, new))), "rows": rows,
            "readable": True}

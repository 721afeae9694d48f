"""Which index would help: the indexes the baseline's plan used that the new plan does without.

For every relation the old plan reached through an index condition (Index Scan, Index Only
Scan, or a Bitmap Heap Scan over a Bitmap Index Scan) whose leading column no index condition
of the new plan on that relation uses, a candidate with the columns of the old condition (an
index scan kept only for its order, without a condition on them, does not count). The
collector tests candidates as hypothetical indexes (hypopg) and reports the estimated cost
with and without them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from planwatch.model.plans import IndexCandidate, PlanNode

# The column on the left of a comparison in an index condition, e.g. "(customer_id = $1)".
_COLUMN = re.compile(
    r'(?:^|[(\s])(?:"?\w+"?\.)?"?([A-Za-z_]\w*)"?\s*(?:=|<>|<=|>=|<|>|~~\*?|@>|<@|&&|\bIS\b)')


def lost_indexes(old: PlanNode, new: PlanNode) -> tuple[IndexCandidate, ...]:
    """Candidates, one per relation, in the old plan's order."""
    still = {(relation, column) for relation, condition in _index_access(new)
             for column in condition_columns(condition)}
    found: dict[str, tuple[str, ...]] = {}
    for relation, condition in _index_access(old):
        columns = condition_columns(condition)
        if columns and relation not in found and (relation, columns[0]) not in still:
            found[relation] = columns
    return tuple(IndexCandidate(r, cols) for r, cols in found.items())


def condition_columns(condition: str) -> tuple[str, ...]:
    """Columns compared in an index condition, in order, without duplicates."""
    seen: dict[str, None] = {}
    for name in _COLUMN.findall(condition or ""):
        if name.upper() not in ("AND", "OR", "NOT", "ANY", "ALL"):
            seen[name] = None
    return tuple(seen)


def _index_access(node: PlanNode) -> Iterator[tuple[str, str]]:
    """(relation, index condition) of every index access in the plan."""
    if node.relation and node.index:
        yield node.relation, str(node.estimates.get("Index Cond", ""))
    elif node.relation and node.op.startswith("Bitmap Heap"):
        for child in _walk(node):
            if child.index:
                yield node.relation, str(child.estimates.get("Index Cond", ""))
    for child in node.children:
        if not (node.relation and node.op.startswith("Bitmap Heap")):
            yield from _index_access(child)


def _walk(node: PlanNode) -> Iterator[PlanNode]:
    yield node
    for child in node.children:
        yield from _walk(child)

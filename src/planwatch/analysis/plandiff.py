"""Readable differences between two normalized plans: what a DBA looks for first.

Reported, in this order: access-path changes per relation (`orders: Index Scan
(orders_customer_id_idx) -> Seq Scan`), join-method changes for the same set of joined
relations (`customers, orders: Nested Loop -> Hash Join`), a changed join order, operators
added or removed (Sort, Gather, Materialize...; keyed by the relations below them), and
flags appearing or disappearing (spill, lookup, parallel; positional flags such as the
outer/inner side or the scan direction are left out).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from planwatch.model.plans import PlanChange, PlanNode

# Operators that only exist as part of another one (the build side of a hash join).
_IMPLIED = frozenset({"hash"})
# Positional facts (outer/inner side, scan direction) that move with every join reorder.
_POSITIONAL_FLAGS = ("parent:", "scan:")
_JOIN_OPS = ("join", "nested loop", "nested loops")


def diff(old: PlanNode, new: PlanNode) -> tuple[PlanChange, ...]:
    """The changes from `old` to `new`; empty when both have the same shape."""
    return (
        *_access_changes(old, new),
        *_join_changes(old, new),
        *_order_changes(old, new),
        *_operator_changes(old, new),
        *_flag_changes(old, new),
    )


def describe(changes: tuple[PlanChange, ...]) -> tuple[str, ...]:
    return tuple(c.describe() for c in changes)


def _walk(node: PlanNode) -> Iterator[PlanNode]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _relations(node: PlanNode) -> tuple[str, ...]:
    return tuple(sorted({n.relation for n in _walk(node) if n.relation}))


def _is_join(node: PlanNode) -> bool:
    op = node.op.lower()
    return len(node.children) >= 2 and (
        node.join_type is not None or any(word in op for word in _JOIN_OPS)
    )


def _is_index_part(node: PlanNode) -> bool:
    """A relation-less index operator that feeds a scan (Bitmap Index Scan, BitmapAnd...)."""
    return node.relation is None and (node.index is not None or node.op.startswith("Bitmap"))


def _access_label(node: PlanNode) -> str:
    """`Seq Scan`, `Index Scan (idx)`, `Bitmap Heap Scan (idx)` via its bitmap children."""
    indexes = [node.index] if node.index else []
    stack = list(node.children)
    while stack:
        child = stack.pop()
        if child.relation is None:
            if child.index and child.index not in indexes:
                indexes.append(child.index)
            stack.extend(child.children)
    return f"{node.op} ({', '.join(sorted(indexes))})" if indexes else node.op


def _access_paths(plan: PlanNode) -> dict[str, Counter[str]]:
    paths: dict[str, Counter[str]] = {}
    for n in _walk(plan):
        if n.relation:
            paths.setdefault(n.relation, Counter())[_access_label(n)] += 1
    return paths


def _access_changes(old: PlanNode, new: PlanNode) -> list[PlanChange]:
    before, after = _access_paths(old), _access_paths(new)
    out: list[PlanChange] = []
    for rel in sorted(before.keys() | after.keys()):
        b, a = before.get(rel, Counter()), after.get(rel, Counter())
        gone, came = sorted((b - a).elements()), sorted((a - b).elements())
        for x, y in zip(gone, came, strict=False):
            out.append(PlanChange("access", rel, x, y))
        out += [PlanChange("removed", rel, x, None) for x in gone[len(came):]]
        out += [PlanChange("added", rel, None, y) for y in came[len(gone):]]
    return out


def _join_label(node: PlanNode) -> str:
    kind = node.join_type
    return node.op if kind in (None, "Inner") else f"{node.op} ({kind})"


def _joins(plan: PlanNode) -> dict[tuple[str, ...], list[str]]:
    joins: dict[tuple[str, ...], list[str]] = {}
    for n in _walk(plan):
        if _is_join(n):
            joins.setdefault(_relations(n), []).append(_join_label(n))
    return joins


def _join_changes(old: PlanNode, new: PlanNode) -> list[PlanChange]:
    before, after = _joins(old), _joins(new)
    out = []
    for rels in sorted(before.keys() & after.keys()):
        b, a = sorted(before[rels]), sorted(after[rels])
        if b != a:
            out.append(PlanChange("join", ", ".join(rels), " / ".join(b), " / ".join(a)))
    return out


def _join_shape(node: PlanNode) -> str:
    """Relations in join order: `((orders ⋈ customers) ⋈ items)`."""
    if node.relation and not _is_join(node):
        return node.relation
    parts = [p for p in (_join_shape(c) for c in node.children) if p]
    if _is_join(node):
        return "(" + " ⋈ ".join(parts) + ")"
    return ", ".join(parts)


def _order_changes(old: PlanNode, new: PlanNode) -> list[PlanChange]:
    b, a = _join_shape(old), _join_shape(new)
    if b == a or "⋈" not in b or "⋈" not in a:
        return []
    return [PlanChange("order", "join order", b, a)]


def _operators(plan: PlanNode) -> Counter[tuple[str, tuple[str, ...]]]:
    ops: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for n in _walk(plan):
        skip = n.relation or _is_join(n) or _is_index_part(n) or n.op.lower() in _IMPLIED
        if not skip:
            ops[(n.op, _relations(n))] += 1
    return ops


def _operator_changes(old: PlanNode, new: PlanNode) -> list[PlanChange]:
    before, after = _operators(old), _operators(new)
    gone = [PlanChange("removed", ", ".join(rels) or None, op, None)
            for op, rels in sorted((before - after).elements())]
    came = [PlanChange("added", ", ".join(rels) or None, None, op)
            for op, rels in sorted((after - before).elements())]
    return gone + came


def _flags(plan: PlanNode) -> Counter[tuple[str, str]]:
    flags: Counter[tuple[str, str]] = Counter()
    for n in _walk(plan):
        where = n.relation or ", ".join(_relations(n))
        for flag in n.flags:
            if flag.startswith(_POSITIONAL_FLAGS):
                continue
            flags[(where, flag if n.relation else f"{flag} ({n.op})")] += 1
    return flags


def _flag_changes(old: PlanNode, new: PlanNode) -> list[PlanChange]:
    """Flags gone and come; one of each with the same prefix on the same relations is one
    change (`blocked_customers: subplan:hashed -> subplan:per row (Materialize)`)."""
    before, after = _flags(old), _flags(new)
    gone = sorted((before - after).elements())
    came = sorted((after - before).elements())
    out = []
    for where, flag in gone:
        prefix = flag.split(":", 1)[0] + ":" if ":" in flag else None
        twin = next((c for c in came if prefix and c[0] == where and c[1].startswith(prefix)),
                    None)
        if twin is not None:
            came.remove(twin)
        out.append(PlanChange("flag", where or None, flag, twin[1] if twin else None))
    return out + [PlanChange("flag", where or None, None, flag) for where, flag in came]

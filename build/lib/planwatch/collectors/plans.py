"""Engine-independent plan hashing: a hash of the plan's shape, never of costs or estimates."""

from __future__ import annotations

import hashlib
import json

from planwatch.model.plans import PlanNode

# Facts only an executed (actual) plan shows; an estimated re-capture of the same plan lacks them.
RUNTIME_FLAGS = frozenset({"spill"})


def shape_tokens(node: PlanNode) -> list[str]:
    """Depth-first tokens describing operator, objects, join/strategy, flags and child count."""
    tokens: list[str] = []
    stack = [node]
    while stack:
        n = stack.pop()
        tokens.append(
            "|".join(
                [n.op, n.relation or "", n.index or "", n.join_type or "", n.strategy or "",
                 ",".join(sorted(set(n.flags) - RUNTIME_FLAGS)), str(len(n.children))]
            )
        )
        stack.extend(reversed(n.children))
    return tokens


def shape_hash(node: PlanNode) -> str:
    """16 hex chars of SHA-1 over the shape tokens: equal for re-captures of the same plan."""
    digest = hashlib.sha1("\n".join(shape_tokens(node)).encode(), usedforsecurity=False)
    return digest.hexdigest()[:16]


def to_json(node: PlanNode) -> str:
    return json.dumps(node.to_dict(), separators=(",", ":"), sort_keys=True)


def from_json(text: str) -> PlanNode:
    return PlanNode.from_dict(json.loads(text))

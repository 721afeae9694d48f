"""SQL Server showplan XML → one `ShowplanStatement` per statement, each with a `PlanNode` tree.

Pure: no driver, no I/O. Takes the bytes as SSMS saves them (UTF-16 LE + BOM + CRLF is common)
or the text Query Store returns; the XML parser honours the BOM and the declaration. Statements
are listed in document order, with the statements under an IF/WHILE (`StmtCond` → `Then`/`Else`)
flattened after the condition, because each has its own QueryHash and is tracked on its own.
A `StmtCond` gets a "Cond" root (as SSMS draws it) over its condition's plan, if any.

We keep the engine's QueryPlanHash and also compute our own shape hash (`plan_hash`) through
`collectors.plans.shape_hash`, for plans that lack the attribute (engines.md §3.4).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from planwatch.collectors import plans
from planwatch.errors import PlanwatchError
from planwatch.model.plans import PlanNode
from planwatch.model.samples import CapturedPlan, QueryRef

NS = "http://schemas.microsoft.com/sqlserver/2004/07/showplan"


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _local(el: ET.Element) -> str:
    return el.tag.rsplit("}", 1)[-1]


RELOP = _q("RelOp")
RELOP_COMMON = {"OutputList", "Warnings", "MemoryFractions", "RunTimeInformation",
                "RunTimePartitionSummary", "InternalInfo"}
"""RelOp children that are not the operator-specific element (IndexScan, Hash, ...)."""
SPILL_TAGS = {"SpillToTempDb", "SpillOccurred", "SortSpillDetails", "HashSpillDetails",
              "ExchangeSpillDetails"}
WARNING_ATTRS = {"NoJoinPredicate": "no join predicate", "SpatialGuess": "spatial guess",
                 "UnmatchedIndexes": "unmatched indexes",
                 "FullUpdateForOnlineIndexBuild": "full update for online index build"}
RELOP_ESTIMATES = ("NodeId", "EstimateRows", "EstimateIO", "EstimateCPU", "AvgRowSize",
                   "EstimatedTotalSubtreeCost", "EstimateRebinds", "EstimateRewinds",
                   "AdaptiveThresholdRows")


class ShowplanError(PlanwatchError, ValueError):
    """The document is not showplan XML this parser understands."""


@dataclass(frozen=True, slots=True)
class MissingIndex:
    """An index the optimizer wished for; `impact` is its estimated cost reduction in %."""

    table: str
    equality: tuple[str, ...] = ()
    inequality: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    impact: float | None = None

    def describe(self) -> str:
        keys = ", ".join(self.equality + self.inequality)
        text = f"{self.table} ({keys})"
        if self.include:
            text += f" INCLUDE ({', '.join(self.include)})"
        return text


@dataclass(frozen=True, slots=True)
class ShowplanStatement:
    """One statement of a showplan batch: identity, plan tree and what the optimizer warned about.

    `query_plan_hash` is the engine's (missing in some hand-made plans); `plan_hash` is ours.
    """

    statement_text: str
    statement_type: str
    statement_id: int | None
    query_hash: str | None
    query_plan_hash: str | None
    root: PlanNode | None
    plan_hash: str | None
    warnings: tuple[str, ...] = ()
    missing_indexes: tuple[MissingIndex, ...] = ()
    memory_grant_kb: int | None = None
    dop: int | None = None

    @property
    def preferred_plan_hash(self) -> str | None:
        """The engine's hash when present (engines.md: prefer it), else ours."""
        return self.query_plan_hash or self.plan_hash


def parse(raw: bytes | str) -> list[ShowplanStatement]:
    """All statements of a showplan document, nested ones flattened in document order."""
    try:
        doc = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise ShowplanError(f"not well-formed showplan XML: {exc}") from exc
    if doc.tag != _q("ShowPlanXML"):
        raise ShowplanError(f"root element is {doc.tag}, not ShowPlanXML")
    path = f"{_q('BatchSequence')}/{_q('Batch')}/{_q('Statements')}"
    return [s for container in doc.iterfind(path) for s in _statements(container)]


def captured_plan(
    ref: QueryRef, statement: ShowplanStatement, raw: str, captured_at: datetime
) -> CapturedPlan:
    """What storage keeps for one statement: our shape hash, with the engine's kept beside it."""
    if statement.root is None or statement.plan_hash is None:
        raise ShowplanError(f"statement {statement.statement_id} has no plan")
    return CapturedPlan(
        ref=ref, plan_hash=statement.plan_hash, plan_json=plans.to_json(statement.root), raw=raw,
        captured_at=captured_at, engine_plan_hash=statement.query_plan_hash,
    )


def _statements(container: ET.Element) -> Iterator[ShowplanStatement]:
    for el in container:
        if not _local(el).startswith("Stmt"):
            continue
        yield _statement(el)
        for branch in ("Then", "Else"):
            for nested in el.iterfind(f"{_q(branch)}/{_q('Statements')}"):
                yield from _statements(nested)


def _statement(el: ET.Element) -> ShowplanStatement:
    query_plans = _query_plans(el)
    root = _statement_root(el, query_plans)
    first = query_plans[0] if query_plans else None
    return ShowplanStatement(
        statement_text=(el.get("StatementText") or "").strip(),
        statement_type=el.get("StatementType") or _local(el),
        statement_id=_int(el.get("StatementId")),
        query_hash=el.get("QueryHash"),
        query_plan_hash=el.get("QueryPlanHash"),
        root=root,
        plan_hash=plans.shape_hash(root) if root is not None else None,
        warnings=tuple(dict.fromkeys(w for qp in query_plans for w in _warnings(qp))),
        missing_indexes=tuple(m for qp in query_plans for m in _missing_indexes(qp)),
        memory_grant_kb=_int(first.get("MemoryGrant")) if first is not None else None,
        dop=_int(first.get("DegreeOfParallelism")) if first is not None else None,
    )


def _query_plans(el: ET.Element) -> list[ET.Element]:
    kind = _local(el)
    if kind == "StmtCond":
        return el.findall(f"{_q('Condition')}/{_q('QueryPlan')}")
    if kind == "StmtCursor":
        return el.findall(f"{_q('CursorPlan')}/{_q('Operation')}/{_q('QueryPlan')}")
    return el.findall(_q("QueryPlan"))


def _statement_root(el: ET.Element, query_plans: list[ET.Element]) -> PlanNode | None:
    tops = [_relop(r) for qp in query_plans for r in qp.findall(RELOP)]
    kind = _local(el)
    if kind == "StmtCond":
        return PlanNode(op="Cond", children=tuple(tops))
    if kind == "StmtCursor":
        cursor = el.find(_q("CursorPlan"))
        operations = [] if cursor is None else cursor.findall(_q("Operation"))
        children = tuple(
            PlanNode(op=op.get("OperationType") or "Operation",
                     children=tuple(_relop(r) for r in op.iterfind(f"{_q('QueryPlan')}/{RELOP}")))
            for op in operations
        )
        strategy = None if cursor is None else cursor.get("CursorActualType")
        return PlanNode(op="Cursor", strategy=strategy, children=children)
    return tops[0] if tops else None


def _relop(el: ET.Element) -> PlanNode:
    physical = el.get("PhysicalOp") or "?"
    logical = el.get("LogicalOp")
    detail = next((c for c in el if _local(c) not in RELOP_COMMON), None)
    obj = detail.find(_q("Object")) if detail is not None else None
    is_join = logical is not None and ("Join" in logical or "Apply" in logical)
    return PlanNode(
        op=physical,
        relation=_relation(obj),
        index=_unquote(obj.get("Index")) if obj is not None else None,
        join_type=logical if is_join else None,
        strategy=logical if not is_join and logical != physical else None,
        flags=_flags(el, detail),
        children=tuple(_relop(c) for c in _child_relops(el)),
        estimates=_estimates(el),
    )


def _child_relops(el: ET.Element) -> list[ET.Element]:
    """The nearest RelOps below `el` in document order (inside predicates too: subqueries)."""
    found: list[ET.Element] = []
    stack = list(reversed(el))
    while stack:
        node = stack.pop()
        if node.tag == RELOP:
            found.append(node)
        else:
            stack.extend(reversed(node))
    return found


def _flags(el: ET.Element, detail: ET.Element | None) -> tuple[str, ...]:
    flags = set()
    if detail is not None and _true(detail.get("Lookup")):
        flags.add("lookup")
    if _true(el.get("Parallel")):
        flags.add("parallel")
    if el.get("PhysicalOp") == "Adaptive Join" or _true(el.get("IsAdaptive")):
        flags.add("adaptive")
    if el.get("EstimatedExecutionMode") == "Batch":
        flags.add("batch")
    warnings = el.find(_q("Warnings"))
    if warnings is not None and any(_local(w) in SPILL_TAGS for w in warnings):
        flags.add("spill")
    return tuple(sorted(flags))


def _estimates(el: ET.Element) -> dict[str, Any]:
    est: dict[str, Any] = {k: _float(el.get(k)) for k in RELOP_ESTIMATES if el.get(k) is not None}
    if "NodeId" in est:
        est["NodeId"] = int(est["NodeId"])
    if el.get("EstimatedJoinType"):
        est["EstimatedJoinType"] = el.get("EstimatedJoinType")
    counters = el.findall(f"{_q('RunTimeInformation')}/{_q('RunTimeCountersPerThread')}")
    if counters:
        est["ActualRows"] = sum(_int(c.get("ActualRows")) or 0 for c in counters)
        est["ActualExecutions"] = sum(_int(c.get("ActualExecutions")) or 0 for c in counters)
    return est


def _warnings(query_plan: ET.Element) -> Iterator[str]:
    """Readable warnings: plan-level ones, then per operator, then memory-grant waits."""
    yield from _describe_warnings(query_plan.find(_q("Warnings")), "")
    for relop in query_plan.iter(RELOP):
        where = f"{relop.get('PhysicalOp')} (node {relop.get('NodeId')}): "
        yield from _describe_warnings(relop.find(_q("Warnings")), where)
    grant = query_plan.find(_q("MemoryGrantInfo"))
    wait = _int(grant.get("GrantWaitTime")) if grant is not None else None
    if wait:
        yield f"memory grant wait: {wait} ms"
    for missing in _missing_indexes(query_plan):
        yield f"missing index: {missing.describe()}"


def _describe_warnings(warnings: ET.Element | None, where: str) -> Iterator[str]:
    if warnings is None:
        return
    for attr, text in WARNING_ATTRS.items():
        if _true(warnings.get(attr)):
            yield where + text
    for w in warnings:
        yield where + _describe_warning(w)


def _describe_warning(w: ET.Element) -> str:
    kind = _local(w)
    if kind.endswith("SpillDetails"):  # SortSpillDetails, HashSpillDetails, ...
        return f"{kind[:-12].lower()} spill: {w.get('WritesToTempDb') or '?'} writes to tempdb"
    if kind in SPILL_TAGS:
        level = w.get("SpillLevel")
        return "spill to tempdb" + (f" (level {level})" if level else "")
    if kind == "MemoryGrantWarning":
        return f"memory grant: {w.get('GrantWarningKind') or 'warning'}"
    if kind == "PlanAffectingConvert":
        return f"implicit conversion ({w.get('ConvertIssue')}): {w.get('Expression')}"
    if kind == "ColumnsWithNoStatistics":
        columns = [_unquote(c.get("Column")) for c in w.iter(_q("ColumnReference"))]
        return "columns without statistics: " + ", ".join(c for c in columns if c)
    if kind == "Wait":
        return f"wait {w.get('WaitType')}: {w.get('WaitTime')} ms"
    return kind


def _missing_indexes(query_plan: ET.Element) -> Iterator[MissingIndex]:
    for group in query_plan.iterfind(f"{_q('MissingIndexes')}/{_q('MissingIndexGroup')}"):
        for index in group.iterfind(_q("MissingIndex")):
            usage: dict[str, tuple[str, ...]] = {}
            for cg in index.iterfind(_q("ColumnGroup")):
                names = tuple(_unquote(c.get("Name")) or "" for c in cg.iterfind(_q("Column")))
                usage[cg.get("Usage") or ""] = names
            yield MissingIndex(
                table=_join_name(index.get("Schema"), index.get("Table")) or "?",
                equality=usage.get("EQUALITY", ()), inequality=usage.get("INEQUALITY", ()),
                include=usage.get("INCLUDE", ()), impact=_float(group.get("Impact")),
            )


def _relation(obj: ET.Element | None) -> str | None:
    return None if obj is None else _join_name(obj.get("Schema"), obj.get("Table"))


def _join_name(schema: str | None, table: str | None) -> str | None:
    if not table:
        return None
    return ".".join(p for p in (_unquote(schema), _unquote(table)) if p)


def _unquote(name: str | None) -> str | None:
    """`[dbo]` → `dbo` (`]]` inside brackets is an escaped `]`)."""
    if name and name.startswith("[") and name.endswith("]"):
        return name[1:-1].replace("]]", "]")
    return name or None


def _true(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None

"""Showplan XML parsing and hashing over every SQL Server fixture in tests/fixtures/plans/mssql."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from planwatch.collectors import plans, showplan
from planwatch.model.plans import PlanNode
from planwatch.model.samples import QueryRef
from shared_fixtures import FIXTURES

MSSQL = FIXTURES / "mssql"
FILES = sorted(MSSQL.glob("*.sqlplan"))


def parse(name: str) -> list[showplan.ShowplanStatement]:
    return showplan.parse((MSSQL / f"{name}.sqlplan").read_bytes())


def only(name: str) -> showplan.ShowplanStatement:
    (statement,) = [s for s in parse(name) if s.root is not None]
    return statement


def walk(node: PlanNode) -> list[PlanNode]:
    return [node, *(n for c in node.children for n in walk(c))]


def test_all_fixtures_present() -> None:
    assert len(FILES) == 11


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_file_parses_with_a_root(path: Path) -> None:
    statements = showplan.parse(path.read_bytes())
    assert statements
    planned = [s for s in statements if s.root is not None]
    assert planned
    for s in planned:
        assert s.root is not None and s.plan_hash == plans.shape_hash(s.root)
        assert len(s.plan_hash or "") == 16
        assert s.statement_text and s.statement_type


def test_utf16_file_parses() -> None:
    raw = (MSSQL / "ps_param-sniffing-posttypeid2.sqlplan").read_bytes()
    assert raw[:2] == b"\xff\xfe" and b"\r\x00\n\x00" in raw  # UTF-16 LE, BOM, CRLF
    (s,) = showplan.parse(raw)
    assert s.query_hash == "0x47D4628BAA8566BC"
    assert s.query_plan_hash == "0x3352777F5F1170A9"
    assert "Row Count Spool" in [n.op for n in walk(s.root or PlanNode("?"))]
    assert showplan.parse(raw.decode("utf-16"))[0].plan_hash == s.plan_hash  # text works too


def test_scan_and_seek_hash_differently_and_the_diff_names_the_operator() -> None:
    scan, seek = only("hqp_clustered_index_scan"), only("hqp_clustered_index_seek")
    assert scan.plan_hash != seek.plan_hash
    assert scan.query_plan_hash == "0x6867F0BB85CF394F"
    assert seek.query_plan_hash == "0x134F3E5A51729C2E"
    assert scan.root is not None and seek.root is not None
    assert (scan.root.relation, scan.root.index) == (seek.root.relation, seek.root.index)
    changed = [
        (a.op, b.op) for a, b in zip(walk(scan.root), walk(seek.root), strict=True) if a.op != b.op
    ]
    assert changed == [("Clustered Index Scan", "Clustered Index Seek")]


def test_key_lookup_is_flagged() -> None:
    s = only("hqp_key_lookup")
    assert s.root is not None and s.root.op == "Nested Loops" and s.root.join_type == "Inner Join"
    seek, lookup = s.root.children
    assert (seek.op, seek.index, seek.flags) == ("Index Seek", "IX_DisplayName", ())
    assert (lookup.op, lookup.relation, lookup.index) == ("Clustered Index Seek", "dbo.Users",
                                                          "PK_Users_Id")
    assert lookup.flags == ("lookup",)
    assert s.memory_grant_kb == 1024 and s.dop == 1


def test_spill_is_a_warning_and_a_flag() -> None:
    s = only("ps_spill_plan")
    assert any("spill to tempdb" in w for w in s.warnings)
    spilled = [n for n in walk(s.root or PlanNode("?")) if "spill" in n.flags]
    assert [n.op for n in spilled] == ["Sort"]
    assert s.root is not None and "parallel" in s.root.flags and s.dop == 8
    assert s.memory_grant_kb == 10851312


def test_missing_index_is_reported() -> None:
    (missing,) = only("ps_spill_plan").missing_indexes
    assert missing.table == "dbo.Posts"
    assert (missing.equality, missing.inequality) == (("PostTypeId",), ("Score",))
    assert missing.include == ("Body", "OwnerUserId", "Tags", "Title")
    assert missing.impact == pytest.approx(10.1015)
    assert any(w.startswith("missing index: dbo.Posts") for w in only("ps_spill_plan").warnings)


def test_two_captures_of_one_plan_share_both_hashes() -> None:
    spill, grant_wait = only("ps_spill_plan"), only("ps_memory_grant_wait_plan")
    assert spill.query_plan_hash == grant_wait.query_plan_hash == "0xC4C50220FBFA216F"
    assert spill.query_hash == grant_wait.query_hash
    assert spill.plan_hash == grant_wait.plan_hash
    assert "memory grant wait: 1000 ms" in grant_wait.warnings
    assert "memory grant wait: 1000 ms" not in spill.warnings


def test_plan_hash_is_shared_across_queries() -> None:
    case, like = only("ps_case_predicate_plan"), only("ps_leading_wildcard_like_plan")
    assert case.query_plan_hash == like.query_plan_hash == "0x886C862179C30A55"
    assert case.query_hash != like.query_hash
    assert case.plan_hash == like.plan_hash  # ours agrees: same shape


def test_batch_with_three_planned_statements() -> None:
    statements = parse("ps_eager_table_spool_plan")
    assert [s.statement_id for s in statements] == [1, 2, 3, 4, 5, 6, 7, 8]
    planned = [s for s in statements if s.root is not None]
    assert [s.statement_type for s in planned] == ["COND WITH QUERY", "SELECT", "UPDATE"]
    assert len({(s.query_hash, s.query_plan_hash) for s in planned}) == 3
    assert all(s.query_hash is None and s.plan_hash is None for s in statements if not s.root)
    cond, _, update = planned
    assert cond.root is not None and cond.root.op == "Cond"
    assert cond.root.children[0].op == "Compute Scalar"
    spool = [n for n in walk(update.root or PlanNode("?")) if n.op == "Table Spool"]
    assert [n.strategy for n in spool] == ["Eager Spool"]


def test_stmt_cond_without_query() -> None:
    cond, printed = parse("hqp_stmt_cond")
    assert (cond.statement_type, cond.statement_text) == ("COND", "IF 1 = 1")
    assert cond.root == PlanNode(op="Cond")
    assert (printed.statement_type, printed.root, printed.plan_hash) == ("PRINT", None, None)
    assert cond.query_plan_hash is None
    assert cond.preferred_plan_hash == cond.plan_hash  # fallback when the engine hash is missing


def test_adaptive_join() -> None:
    s = only("hqp_adaptive_join")
    assert s.root is not None
    assert (s.root.op, s.root.join_type, s.root.flags) == ("Adaptive Join", "Inner Join",
                                                           ("adaptive",))
    assert [c.op for c in s.root.children] == ["Clustered Index Scan", "Filter", "Index Seek"]
    assert s.root.estimates["EstimatedJoinType"] == "Nested Loops"


def test_estimates_and_actuals_are_kept_but_not_hashed() -> None:
    s = only("hqp_clustered_index_scan")
    assert s.root is not None
    assert s.root.estimates["NodeId"] == 0 and "EstimateRows" in s.root.estimates
    assert "ActualRows" in s.root.estimates
    edited = PlanNode(op=s.root.op, relation=s.root.relation, index=s.root.index,
                      estimates={"EstimateRows": 1e9})
    assert plans.shape_hash(edited) == s.plan_hash


HAND_MADE = b"""<?xml version="1.0" encoding="utf-8"?>
<ShowPlanXML xmlns="http://schemas.microsoft.com/sqlserver/2004/07/showplan" Version="1.5">
 <BatchSequence><Batch><Statements>
  <StmtSimple StatementId="1" StatementText="SELECT * FROM [a]]b].[t]" StatementType="SELECT">
   <QueryPlan DegreeOfParallelism="1">
    <Warnings NoJoinPredicate="true">
     <PlanAffectingConvert ConvertIssue="Seek Plan" Expression="CONVERT_IMPLICIT(int,[x],0)"/>
     <MemoryGrantWarning GrantWarningKind="Excessive Grant" RequestedMemory="1" GrantedMemory="9"/>
    </Warnings>
    <RelOp NodeId="0" PhysicalOp="Hash Match" LogicalOp="Aggregate" Parallel="0">
     <Hash>
      <RelOp NodeId="1" PhysicalOp="Table Scan" LogicalOp="Table Scan">
       <TableScan><Object Schema="[a]]b]" Table="[t]"/></TableScan>
      </RelOp>
     </Hash>
    </RelOp>
   </QueryPlan>
  </StmtSimple>
 </Statements></Batch></BatchSequence>
</ShowPlanXML>"""


def test_hand_made_plan_without_engine_hashes() -> None:
    (s,) = showplan.parse(HAND_MADE)
    assert s.query_hash is None and s.query_plan_hash is None
    assert s.preferred_plan_hash == s.plan_hash is not None
    assert s.root is not None
    assert (s.root.op, s.root.strategy, s.root.join_type) == ("Hash Match", "Aggregate", None)
    assert s.root.children[0].relation == "a]b.t"
    assert s.warnings == (
        "no join predicate",
        "implicit conversion (Seek Plan): CONVERT_IMPLICIT(int,[x],0)",
        "memory grant: Excessive Grant",
    )


@pytest.mark.parametrize("raw", [b"not xml", b"<Other/>", b"<ShowPlanXML/>"])
def test_rejects_what_is_not_showplan(raw: bytes) -> None:
    with pytest.raises(showplan.ShowplanError):
        showplan.parse(raw)


def test_captured_plan_keeps_both_hashes() -> None:
    raw = (MSSQL / "ps_spill_plan.sqlplan").read_text()
    s = only("ps_spill_plan")
    ref = QueryRef(target="mssql", database="StackOverflow2013", query_id=s.query_hash or "")
    cp = showplan.captured_plan(ref, s, raw, datetime(2026, 1, 1, tzinfo=UTC))
    assert (cp.plan_hash, cp.engine_plan_hash) == (s.plan_hash, "0xC4C50220FBFA216F")
    assert plans.shape_hash(plans.from_json(cp.plan_json)) == cp.plan_hash
    with pytest.raises(showplan.ShowplanError):
        showplan.captured_plan(ref, parse("hqp_stmt_cond")[1], raw, cp.captured_at)

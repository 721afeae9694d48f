"""A poll stands unless rolled back; a rolled-back poll's texts and plans are sent again."""

from __future__ import annotations

from datetime import UTC, datetime

from planwatch.collectors import staging
from planwatch.model.samples import CapturedPlan, QueryRef, StatementText

REF = QueryRef("t", "db", "1")
TEXT = StatementText(REF, "SELECT 1")
PLAN = CapturedPlan(REF, "h", "{}", "{}", datetime(2026, 1, 1, tzinfo=UTC))


def test_a_poll_stands_unless_rolled_back() -> None:
    s: staging.Staging[str] = staging.Staging()
    assert s.begin() == ([], [])
    s.stage("first", [TEXT], [PLAN])
    assert s.current == "first" and s.confirmed is None
    assert s.begin() == ([], [])  # the first poll stood
    assert s.confirmed == "first"
    s.stage("second", [], [])
    s.rollback()
    assert s.current == "first"
    assert s.begin() == ([], [])  # nothing to send again: the lost poll sent nothing new
    assert s.confirmed == "first"


def test_a_rolled_back_polls_texts_and_plans_come_again_until_one_stands() -> None:
    s: staging.Staging[str] = staging.Staging()
    s.begin()
    s.stage("a", [TEXT], [PLAN])
    s.rollback()
    carried = s.begin()
    assert carried == ([TEXT], [PLAN])
    s.stage("b", carried[0], carried[1])  # the next poll sends them with its own
    s.rollback()
    assert s.begin() == ([TEXT], [PLAN])  # still lost: still carried
    s.stage("c", [TEXT], [PLAN])
    assert s.begin() == ([], [])
    assert s.confirmed == "c"


def test_rollback_without_a_poll_does_nothing() -> None:
    s: staging.Staging[str] = staging.Staging(confirmed="x")
    s.rollback()
    assert s.begin() == ([], []) and s.confirmed == "x"

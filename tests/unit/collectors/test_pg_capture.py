"""What PostgreSQL statements may be EXPLAINed, and with how many parameters."""

from __future__ import annotations

import pytest

from planwatch.collectors import pg_capture


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("SELECT * FROM t WHERE id = $1", True),
        ("  with x as (select 1) select * from x", True),
        ("/* app */ INSERT INTO t VALUES ($1)", True),
        ("(SELECT 1) UNION (SELECT 2)", True),
        ("UPDATE t SET v = $1", True),
        ("DELETE FROM t", True),
        ("VALUES ($1)", True),
        ("CREATE TABLE t (id int)", False),
        ("BEGIN", False),
        ("SELECT 1; DROP TABLE t", False),
        ("SELECT 1;", True),
        ("/* planwatch */ SELECT 1", False),
        ("", False),
        (None, False),
    ],
)
def test_explainable(text: str | None, ok: bool) -> None:
    assert pg_capture.explainable(text) is ok


def test_parameter_count_is_the_highest_placeholder() -> None:
    assert pg_capture.parameter_count("SELECT $2, $10, $1") == 10
    assert pg_capture.parameter_count("SELECT 1") == 0

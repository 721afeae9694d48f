"""Engine SQL files: named sections, the planwatch prefix on every statement."""

from __future__ import annotations

import pytest

from planwatch.collectors import sqlfiles


def test_sections_are_named_and_prefixed() -> None:
    parsed = sqlfiles.parse("-- header\n-- name: one\nSELECT 1;\n\n-- name: two\nSELECT 2\n")
    assert parsed == {"one": "/* planwatch */ SELECT 1", "two": "/* planwatch */ SELECT 2"}


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        sqlfiles.parse("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")


def test_postgres_file_loads_with_the_statements_the_collector_uses() -> None:
    queries = sqlfiles.queries("postgres")
    assert {"connection_facts", "statements", "statement_texts", "generic_plan"} <= set(queries)
    assert all(q.startswith(sqlfiles.PREFIX) for q in queries.values())
    assert "showtext := false" in queries["statements"]


def test_own_statements_are_recognised() -> None:
    assert sqlfiles.is_own("/* planwatch */ SELECT 1")
    assert not sqlfiles.is_own("SELECT 1 /* planwatch */")
    assert not sqlfiles.is_own(None)

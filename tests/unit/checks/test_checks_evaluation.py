"""Check evaluation as pure functions: thresholds, every operator, every result shape."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from planwatch.checks.evaluation import Judgement, RawResult, Rule, Shape, evaluate, worst
from planwatch.config.settings import CheckSettings
from planwatch.model.checks import CheckStatus

OK, WARN, CRIT, ERR = (CheckStatus.OK, CheckStatus.WARNING, CheckStatus.CRITICAL,
                       CheckStatus.ERROR)


def _check(**kw: Any) -> CheckSettings:
    return CheckSettings(name="c", sql="select 1", targets=("t",), **kw)


@pytest.mark.parametrize(
    ("text", "value", "holds"),
    [
        ("> 1000", 1001, True), ("> 1000", 1000, False),
        (">= 1000", 1000, True), ("< 0.5", 0.4, True), ("<= 0.5", 0.6, False),
        ("== 3", Decimal("3.0"), True), ("!= 3", 3, False), ("= ok", "ok", True),
        ("<> ok", "bad", True), ("contains ERROR", "an ERROR here", True),
        ("contains ERROR", "all fine", False), ("> 10", "11", True),
        ("> 1", timedelta(seconds=2), True), ("== 1", True, True),
    ],
)  # fmt: skip
def test_threshold_rules(text: str, value: object, holds: bool) -> None:
    assert Rule.parse(text).holds(value) is holds


@pytest.mark.parametrize(
    ("op", "expected", "value", "status"),
    [
        ("eq", 0, 0, OK), ("eq", 0, 1, CRIT), ("ne", 0, 1, OK), ("ne", "x", "x", CRIT),
        ("gt", 5, 6, OK), ("gt", 5, 5, CRIT), ("lt", 5, 4, OK), ("lt", 5, 5, CRIT),
        ("gte", 5, 5, OK), ("gte", 5, 4, CRIT), ("lte", 5, 5, OK), ("lte", 5, 6, CRIT),
        ("contains", "ok", "all ok", OK), ("contains", "ok", "failed", CRIT),
        ("eq", "ready", "ready", OK),
    ],
)  # fmt: skip
def test_every_operator_with_expected(op: str, expected: object, value: object,
                                      status: CheckStatus) -> None:
    judgement = Judgement.of(_check(operator=op, expected=expected))
    assert judgement.judge(value)[0] is status


def test_thresholds_pick_the_worst_that_holds() -> None:
    judgement = Judgement.of(_check(warning="> 1000", critical="> 5000"))
    assert judgement.judge(10)[0] is OK
    assert judgement.judge(1001) == (WARN, "value 1001 > 1000 (warning threshold)")
    assert judgement.judge(5001) == (CRIT, "value 5001 > 5000 (critical threshold)")


def test_ordering_on_text_is_an_error_not_ok() -> None:
    status, message = Judgement.of(_check(warning="> 10")).judge("lots")
    assert (status, message) == (ERR, "value 'lots' is not a number")


def test_scalar_takes_first_column_of_first_row() -> None:
    raw = RawResult(("n", "other"), [(7, "x"), (9, "y")])
    (e,) = evaluate(Shape("scalar"), Judgement.of(_check(warning="> 5")), raw, 1.0)
    assert (e.status, e.value, e.labels) == (WARN, 7.0, ())


def test_scalar_without_rows_or_with_null_is_an_error() -> None:
    j = Judgement.of(_check(warning="> 5"))
    (e,) = evaluate(Shape("scalar"), j, RawResult(("n",), []), 1.0)
    assert (e.status, e.message) == (ERR, "the query returned no rows; a scalar check needs "
                                          "one row")
    (e,) = evaluate(Shape("scalar"), j, RawResult(("n",), [(None,)]), 1.0)
    assert (e.status, e.message) == (ERR, "the query returned NULL")


def test_text_values_are_kept_as_text() -> None:
    j = Judgement.of(_check(critical="contains ERROR"))
    (e,) = evaluate(Shape("scalar"), j, RawResult(("s",), [("FATAL ERROR",)]), 1.0)
    assert (e.status, e.value, e.value_text) == (CRIT, None, "FATAL ERROR")


def test_rowcount_counts_rows() -> None:
    raw = RawResult(("id",), [(1,), (2,), (3,)])
    (e,) = evaluate(Shape("rowcount"), Judgement.of(_check(critical=">= 3")), raw, 1.0)
    assert (e.status, e.value) == (CRIT, 3.0)


def test_nonquery_judges_the_duration() -> None:
    shape, j = Shape("nonquery"), Judgement.of(_check(warning="> 100"))
    (e,) = evaluate(shape, j, RawResult(), 250.0)
    assert (e.status, e.value) == (WARN, 250.0)
    (e,) = evaluate(shape, Judgement(), RawResult(), 5.0)
    assert e.status is OK


def test_dataset_gives_one_labelled_evaluation_per_row() -> None:
    raw = RawResult(("Region", "kind", "FAILURES"),
                    [("eu", "a", 0), ("us", "a", 3), ("ap", "b", 12)])
    shape = Shape("dataset", "failures", ("region", "kind"))
    found = evaluate(shape, Judgement.of(_check(warning="> 0", critical="> 10")), raw, 1.0)
    assert [(e.labels, e.status, e.value) for e in found] == [
        ((("region", "eu"), ("kind", "a")), OK, 0.0),
        ((("region", "us"), ("kind", "a")), WARN, 3.0),
        ((("region", "ap"), ("kind", "b")), CRIT, 12.0),
    ]
    assert worst(found) is CRIT


def test_dataset_shape_problems_are_clear_errors() -> None:
    shape = Shape("dataset", "failures", ("region",))
    (e,) = evaluate(shape, Judgement(), RawResult(("region", "n"), [("eu", 1)]), 1.0)
    assert (e.status, e.message) == (ERR, "column 'failures' is not in the result "
                                          "(columns: region, n)")
    (e,) = evaluate(shape, Judgement(), RawResult(("region", "failures"), []), 1.0)
    assert (e.status, e.message) == (OK, "no rows returned")


def test_a_statement_without_result_set_needs_nonquery() -> None:
    (e,) = evaluate(Shape("scalar"), Judgement(), RawResult((), [], 0), 1.0)
    assert e.status is ERR and "result: nonquery" in e.message

"""Judging check results: thresholds, operators and result shaping, as pure functions.

A driver hands back a `RawResult` (column names, rows, rowcount); `evaluate` turns it into
one `Evaluation` per judged value. Thresholds name the *bad* condition (`warning: "> 1000"`
means "warn when the value is above 1000"); `operator` + `expected` name the *good* one
(`operator: eq, expected: 0` means "critical unless the value equals 0").
"""

from __future__ import annotations

import math
import operator as op
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from planwatch.config.fields import ORDERED_OPERATORS, parse_threshold
from planwatch.config.settings import CheckSettings
from planwatch.model.checks import CheckStatus, Evaluation, Labels

MAX_TEXT = 500  # characters of a text value kept in results and messages

_SYMBOL = {"eq": "==", "ne": "!=", "gt": ">", "lt": "<", "gte": ">=", "lte": "<=",
           "contains": "contains"}  # fmt: skip
_ORDERED: dict[str, Callable[[float, float], bool]] = {
    "gt": op.gt, "lt": op.lt, "gte": op.ge, "lte": op.le,
}  # fmt: skip


class ShapeError(ValueError):
    """The result does not have the shape the check's `result` kind needs."""


@dataclass(frozen=True, slots=True)
class RawResult:
    """What a driver read: column names, rows (tuples) and the statement's rowcount."""

    columns: tuple[str, ...] = ()
    rows: Sequence[Sequence[Any]] = ()
    rowcount: int = -1


@dataclass(frozen=True, slots=True)
class Rule:
    """`value <op> ref`, e.g. `gt 1000.0` or `contains "ERROR"`."""

    op: str
    ref: float | str

    @classmethod
    def parse(cls, text: str) -> Rule:
        name, ref = parse_threshold(text)
        return cls(name, ref)

    def holds(self, value: Any) -> bool:
        """Whether the rule matches `value`; `TypeError` when an ordering needs a number."""
        if self.op == "contains":
            return str(self.ref) in text_of(value)
        number, ref = to_number(value), to_number(self.ref)
        if self.op in ORDERED_OPERATORS:
            if number is None or ref is None:
                raise TypeError(f"value {describe(value)} is not a number")
            return _ORDERED[self.op](number, ref)
        same = number == ref if number is not None and ref is not None else (
            text_of(value) == text_of(self.ref)
        )
        return same if self.op == "eq" else not same

    def __str__(self) -> str:
        return f"{_SYMBOL[self.op]} {describe(self.ref)}"


@dataclass(frozen=True, slots=True)
class Judgement:
    """How one value is judged: thresholds (bad when they hold) or an expectation."""

    critical: Rule | None = None
    warning: Rule | None = None
    expect: Rule | None = None  # good when it holds; critical otherwise

    @classmethod
    def of(cls, check: CheckSettings) -> Judgement:
        expect = None
        if check.operator is not None and check.expected is not None:
            expect = Rule(check.operator, _ref(check.expected))
        return cls(
            critical=Rule.parse(check.critical) if check.critical else None,
            warning=Rule.parse(check.warning) if check.warning else None,
            expect=expect,
        )

    def judge(self, value: Any) -> tuple[CheckStatus, str]:
        """The status of `value` and a message that says why."""
        shown = describe(value)
        try:
            if self.expect is not None:
                if self.expect.holds(value):
                    return CheckStatus.OK, f"value {shown} {self.expect} as expected"
                return CheckStatus.CRITICAL, f"expected {self.expect}, got {shown}"
            for status, rule in ((CheckStatus.CRITICAL, self.critical),
                                 (CheckStatus.WARNING, self.warning)):
                if rule is not None and rule.holds(value):
                    return status, f"value {shown} {rule} ({status.value} threshold)"
        except TypeError as exc:
            return CheckStatus.ERROR, str(exc)
        return CheckStatus.OK, f"value {shown} is within thresholds"


@dataclass(frozen=True, slots=True)
class Shape:
    """How rows become judged values (from the check's `result`, `value_column`, labels)."""

    result: str = "scalar"  # scalar | rowcount | dataset | nonquery
    value_column: str | None = None
    label_columns: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, check: CheckSettings) -> Shape:
        return cls(check.result, check.value_column, check.label_columns)

    def values(self, raw: RawResult, duration_ms: float) -> list[tuple[Labels, Any]]:
        """(labels, value) pairs to judge; `ShapeError` when the result does not fit."""
        if self.result == "nonquery":
            return [((), round(duration_ms, 3))]
        if self.result == "rowcount":
            return [((), len(raw.rows) if raw.columns else max(raw.rowcount, 0))]
        if not raw.columns:
            raise ShapeError("the statement returned no result set; use result: nonquery "
                             "to judge its duration")
        if self.result == "dataset":
            return self._dataset(raw)
        if not raw.rows:
            raise ShapeError("the query returned no rows; a scalar check needs one row")
        return [((), raw.rows[0][0])]

    def _dataset(self, raw: RawResult) -> list[tuple[Labels, Any]]:
        assert self.value_column is not None
        value_at = column_index(raw.columns, self.value_column)
        label_at = [(name, column_index(raw.columns, name)) for name in self.label_columns]
        return [
            (tuple((name, text_of(row[i])) for name, i in label_at), row[value_at])
            for row in raw.rows
        ]


def evaluate(
    shape: Shape, judgement: Judgement, raw: RawResult, duration_ms: float
) -> list[Evaluation]:
    """One evaluation per value (one per row for datasets; "no rows" is one ok evaluation)."""
    try:
        values = shape.values(raw, duration_ms)
    except ShapeError as exc:
        return [error(str(exc))]
    if not values:
        return [Evaluation(CheckStatus.OK, "no rows returned")]
    return [judged(judgement, value, labels) for labels, value in values]


def judged(judgement: Judgement, value: Any, labels: Labels = ()) -> Evaluation:
    """The evaluation of one value; NULL cannot be judged, so it is an error."""
    if value is None:
        return error("the query returned NULL", labels)
    status, message = judgement.judge(value)
    number = to_number(value)
    return Evaluation(status, message, number, None if number is not None else text_of(value),
                      labels)


def error(message: str, labels: Labels = ()) -> Evaluation:
    return Evaluation(CheckStatus.ERROR, message, labels=labels)


def worst(evaluations: Sequence[Evaluation]) -> CheckStatus:
    return max((e.status for e in evaluations), key=lambda s: s.rank, default=CheckStatus.OK)


def column_index(columns: Sequence[str], name: str) -> int:
    """Position of column `name` (exact, else case-insensitive); `ShapeError` if missing."""
    if name in columns:
        return columns.index(name)
    folded = [c.lower() for c in columns]
    if name.lower() in folded:
        return folded.index(name.lower())
    raise ShapeError(f"column {name!r} is not in the result (columns: {', '.join(columns)})")


def to_number(value: Any) -> float | None:
    """A finite float for numbers, booleans, numeric text and intervals; None otherwise."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal):
        number = float(value)
    elif isinstance(value, timedelta):
        number = value.total_seconds()
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def text_of(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).decode("utf-8", "replace")
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def describe(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    return "NULL" if value is None else repr(text_of(value))


def _ref(expected: Any) -> float | str:
    number = to_number(expected)
    return number if number is not None and not isinstance(expected, str) else str(expected)

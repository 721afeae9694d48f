"""Histogram buckets as Prometheus defines them: cumulative, `le` inclusive, +Inf last."""

from __future__ import annotations

import pytest

from planwatch.histogram import Histogram


def test_buckets_are_cumulative_and_inclusive() -> None:
    h = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 1.0, 7.0):
        h.observe(value)
    assert h.buckets() == [("0.1", 2.0), ("1.0", 4.0), ("+Inf", 5.0)]
    assert (h.count, h.total) == (5, pytest.approx(8.65))


def test_empty_and_invalid() -> None:
    assert Histogram((1.0,)).buckets() == [("1.0", 0.0), ("+Inf", 0.0)]
    with pytest.raises(ValueError, match="ascending"):
        Histogram((1.0, 0.5))

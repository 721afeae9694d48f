"""Plan-capture policy: what gets EXPLAINed, in which order, within which limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from planwatch.collectors import pg_capture

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


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


def test_order_is_requested_then_moved_then_new_by_weight_within_budget() -> None:
    queue: pg_capture.CaptureQueue[str] = pg_capture.CaptureQueue(budget=3, per_hour=5)
    queue.add_new(["light", "heavy", "medium"])
    queue.observe("moving", 10.0, 10)
    assert queue.observe("moving", 40.0, 10)  # 4 ms vs 1 ms
    queue.request(["asked"])
    assert queue.choose(NOW, {"heavy": 100.0, "medium": 50.0, "light": 1.0}) == [
        "asked", "moving", "heavy"]


def test_latency_rule_fires_both_ways_and_not_for_small_moves() -> None:
    queue: pg_capture.CaptureQueue[str] = pg_capture.CaptureQueue(budget=10, per_hour=5)
    assert not queue.observe("q", 10.0, 10)  # first interval: nothing to compare with
    assert not queue.observe("q", 14.0, 10)  # 1.4 ms vs 1.0 ms
    assert queue.observe("q", 5.0, 10)  # 0.5 ms vs ~1.2 ms: faster by more than 1.5x
    assert not queue.observe("q", 0.0, 0)  # no calls, no opinion


def test_min_delta_ignores_sub_millisecond_jitter() -> None:
    queue: pg_capture.CaptureQueue[str] = pg_capture.CaptureQueue(
        budget=10, per_hour=5, min_delta_ms=1.0)
    queue.observe("fast", 1.0, 10)
    assert not queue.observe("fast", 3.0, 10)  # 0.3 ms vs 0.1 ms: 3x, but 0.2 ms apart
    assert queue.observe("fast", 300.0, 10)  # 30 ms vs ~0.2 ms: a real move
    assert queue.pending() == {"fast"}


def test_capture_restarts_the_running_average() -> None:
    queue: pg_capture.CaptureQueue[str] = pg_capture.CaptureQueue(budget=10, per_hour=5)
    queue.observe("q", 10.0, 10)
    assert queue.observe("q", 50.0, 10)
    queue.attempted("q", NOW)
    assert queue.pending() == set()
    assert not queue.observe("q", 50.0, 10)  # new regime, new baseline
    assert not queue.observe("q", 55.0, 10)


def test_per_query_hourly_limit() -> None:
    queue: pg_capture.CaptureQueue[str] = pg_capture.CaptureQueue(budget=10, per_hour=2)
    for minute in (0, 10):
        queue.request(["q"])
        assert queue.choose(NOW + timedelta(minutes=minute), {}) == ["q"]
        queue.attempted("q", NOW + timedelta(minutes=minute))
    queue.request(["q"])
    assert queue.choose(NOW + timedelta(minutes=30), {}) == []
    assert queue.pending() == {"q"}  # still wanted, served once the hour has passed
    assert queue.choose(NOW + timedelta(minutes=61), {}) == ["q"]


def test_forget_drops_queued_keys() -> None:
    queue: pg_capture.CaptureQueue[str] = pg_capture.CaptureQueue(budget=10, per_hour=2)
    queue.add_new(["a", "b"])
    queue.forget(["a"])
    assert queue.pending() == {"b"}

"""Plan-capture policy: suspects first from a budget noise cannot spend; moves need evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from planwatch.collectors import capture

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def steady(queue: capture.CaptureQueue[str], key: str, mean_ms: float, n: int = 6) -> None:
    for i in range(n):  # a little jitter so the spread is not zero
        queue.observe(key, (mean_ms + (0.05 if i % 2 else -0.05)) * 20, 20)


def test_order_is_suspects_then_moved_then_new_by_weight_within_budget() -> None:
    queue: capture.CaptureQueue[str] = capture.CaptureQueue(budget=4, per_hour=5)
    queue.add_new(["light", "heavy", "medium"])
    steady(queue, "moving", 1.0)
    assert queue.observe("moving", 40 * 20, 20)  # 40 ms vs 1 ms, far outside the spread
    queue.request(["asked"])
    assert queue.reserve == 1
    # 1 suspect + at most budget - reserve = 3 noise captures
    assert queue.choose(NOW, {"heavy": 100.0, "medium": 50.0, "light": 1.0}) == [
        "asked", "moving", "heavy", "medium"]


def test_noise_never_spends_the_reserve() -> None:
    queue: capture.CaptureQueue[str] = capture.CaptureQueue(budget=4, per_hour=5)
    queue.add_new([f"q{i}" for i in range(10)])
    assert len(queue.choose(NOW, {})) == 3  # one of four kept for suspects
    queue.request(["s1", "s2", "s3", "s4", "s5"])
    assert queue.choose(NOW, {}) == ["s1", "s2", "s3", "s4"]  # suspects may use it all


def test_a_few_calls_or_a_small_ratio_is_no_move() -> None:
    queue: capture.CaptureQueue[str] = capture.CaptureQueue(budget=10, per_hour=5)
    steady(queue, "q", 10.0)
    assert not queue.observe("q", 60.0, 5)  # 12 ms on 5 calls: too few calls
    assert not queue.observe("q", 15.0 * 20, 20)  # 1.5x: the old rule's noise
    assert not queue.observe("q", 0.0, 0)  # no calls, no opinion
    assert queue.pending() == set()


def test_a_move_must_leave_the_spread_of_its_history() -> None:
    queue: capture.CaptureQueue[str] = capture.CaptureQueue(budget=10, per_hour=5)
    for mean in (2.0, 9.0, 3.0, 12.0, 4.0, 10.0):  # a noisy query: 2-12 ms per interval
        queue.observe("noisy", mean * 20, 20)
    assert not queue.observe("noisy", 16.0 * 20, 20)  # 2.6x the mean, inside 3 sigma
    assert queue.observe("noisy", 80.0 * 20, 20)  # far outside


def test_history_is_needed_before_anything_moves() -> None:
    queue: capture.CaptureQueue[str] = capture.CaptureQueue(budget=10, per_hour=5)
    steady(queue, "young", 1.0, n=3)
    assert not queue.observe("young", 50.0 * 20, 20)


def test_sub_millisecond_jitter_is_no_move() -> None:
    queue: capture.CaptureQueue[str] = capture.CaptureQueue(budget=10, per_hour=5)
    steady(queue, "fast", 0.1)
    assert not queue.observe("fast", 0.5 * 20, 20)  # 5x, but 0.4 ms apart


def test_capture_restarts_the_regime() -> None:
    queue: capture.CaptureQueue[str] = capture.CaptureQueue(budget=10, per_hour=5)
    steady(queue, "q", 1.0)
    assert queue.observe("q", 50.0 * 20, 20)
    queue.attempted("q", NOW)
    assert queue.pending() == set()
    assert not queue.observe("q", 50.0 * 20, 20)  # new regime, no history yet


def test_suspects_have_their_own_hourly_allowance() -> None:
    queue: capture.CaptureQueue[str] = capture.CaptureQueue(budget=10, per_hour=2,
                                                            suspect_per_hour=3)
    for minute in (0, 10):  # noise spends the query's noise allowance
        queue.add_new(["q"])
        assert queue.choose(NOW + timedelta(minutes=minute), {}) == ["q"]
        queue.attempted("q", NOW + timedelta(minutes=minute))
    queue.add_new(["q"])
    assert queue.choose(NOW + timedelta(minutes=20), {}) == []
    for minute in (21, 22, 23):  # a suspect still gets its captures
        queue.request(["q"])
        assert queue.choose(NOW + timedelta(minutes=minute), {}) == ["q"]
        queue.attempted("q", NOW + timedelta(minutes=minute))
    queue.request(["q"])
    assert queue.choose(NOW + timedelta(minutes=24), {}) == []
    assert "q" in queue.pending()  # still wanted, served once the hour has passed
    assert queue.choose(NOW + timedelta(minutes=82), {}) == ["q"]


def test_forget_drops_queued_keys() -> None:
    queue: capture.CaptureQueue[str] = capture.CaptureQueue(budget=10, per_hour=2)
    queue.add_new(["a", "b"])
    queue.forget(["a"])
    assert queue.pending() == {"b"}

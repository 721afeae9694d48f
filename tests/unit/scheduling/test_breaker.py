from __future__ import annotations

from datetime import UTC, datetime, timedelta

from planwatch.scheduling.backoff import RetryPolicy
from planwatch.scheduling.breaker import BreakerBoard, BreakerState, CircuitBreaker

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(timedelta(seconds=30), 2.0, timedelta(minutes=10))


def _failed(breaker: CircuitBreaker, times: int, now: datetime = T0) -> CircuitBreaker:
    for _ in range(times):
        breaker = breaker.record_failure(now)
    return breaker


def test_stays_closed_below_the_threshold() -> None:
    breaker = _failed(CircuitBreaker(threshold=3, policy=POLICY), 2)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow(T0)
    assert breaker.retry_in(T0) == timedelta(0)


def test_opens_after_threshold_and_refuses_until_cool_down() -> None:
    breaker = _failed(CircuitBreaker(threshold=3, policy=POLICY), 3)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow(T0 + timedelta(seconds=29))
    assert breaker.retry_in(T0 + timedelta(seconds=10)) == timedelta(seconds=20)
    assert breaker.allow(T0 + timedelta(seconds=30))


def test_success_resets_the_count_of_a_closed_breaker() -> None:
    breaker = _failed(CircuitBreaker(threshold=3, policy=POLICY), 2).record_success(T0)
    breaker = _failed(breaker, 2)
    assert breaker.state is BreakerState.CLOSED


def test_only_one_half_open_probe_at_a_time() -> None:
    breaker = _failed(CircuitBreaker(threshold=1, policy=POLICY), 1)
    probe_time = T0 + timedelta(seconds=30)
    allowed, breaker = breaker.acquire(probe_time)
    assert allowed
    assert breaker.state is BreakerState.HALF_OPEN
    allowed_again, _ = breaker.acquire(probe_time + timedelta(seconds=1))
    assert not allowed_again


def test_failed_probe_reopens_with_a_longer_cool_down() -> None:
    breaker = _failed(CircuitBreaker(threshold=1, policy=POLICY), 1)
    probe_time = T0 + timedelta(seconds=30)
    _, breaker = breaker.acquire(probe_time)
    breaker = breaker.record_failure(probe_time)
    assert breaker.state is BreakerState.OPEN
    assert breaker.cooldown == timedelta(seconds=60)
    assert not breaker.allow(probe_time + timedelta(seconds=59))
    assert breaker.allow(probe_time + timedelta(seconds=60))


def test_successful_probe_closes_the_circuit() -> None:
    breaker = _failed(CircuitBreaker(threshold=1, policy=POLICY), 1)
    _, breaker = breaker.acquire(T0 + timedelta(seconds=30))
    breaker = breaker.record_success(T0 + timedelta(seconds=31))
    assert breaker == CircuitBreaker(threshold=1, policy=POLICY)


def test_a_lost_probe_is_retried_after_another_cool_down() -> None:
    breaker = _failed(CircuitBreaker(threshold=1, policy=POLICY), 1)
    probe_time = T0 + timedelta(seconds=30)
    _, breaker = breaker.acquire(probe_time)
    assert breaker.allow(probe_time + timedelta(seconds=30))


def test_board_keeps_targets_independent() -> None:
    board = BreakerBoard(threshold=2, policy=POLICY)
    for _ in range(2):
        board.record_failure("dead", T0)
    board.record_failure("flaky", T0)
    assert board.allow("healthy", T0)
    assert board.allow("flaky", T0)
    assert not board.allow("dead", T0)
    assert board.retry_in("dead", T0 + timedelta(seconds=10)) == timedelta(seconds=20)
    assert _open(board) == ["dead"]
    board.retain({"healthy"})
    assert _open(board) == []
    assert board.get("dead").state is BreakerState.CLOSED


def _open(board: BreakerBoard) -> list[str]:
    return sorted(n for n, b in board.snapshot().items() if b.state is not BreakerState.CLOSED)

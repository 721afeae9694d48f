from __future__ import annotations

from datetime import timedelta

import pytest

from planwatch.config.settings import BackoffSettings
from planwatch.scheduling.backoff import RetryPolicy


def test_default_sequence_doubles_from_30s_and_caps_at_10m() -> None:
    policy = RetryPolicy.from_settings(BackoffSettings())
    delays = [policy.delay(n).total_seconds() for n in range(0, 9)]
    assert delays == [0, 30, 60, 120, 240, 480, 600, 600, 600]


def test_huge_failure_counts_stay_at_the_cap() -> None:
    policy = RetryPolicy(timedelta(seconds=1), 10.0, timedelta(minutes=1))
    assert policy.delay(10_000) == timedelta(minutes=1)


def test_invalid_policies_are_rejected() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(timedelta(minutes=5), 2.0, timedelta(minutes=1))
    with pytest.raises(ValueError):
        RetryPolicy(timedelta(seconds=1), 0.5, timedelta(minutes=1))

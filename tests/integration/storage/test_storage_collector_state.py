"""The snapshot claim of `collector_state.store_poll` on every backend: a target's first poll
claims it, a second first poll and a poll from a stale snapshot are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from planwatch.storage import collector_state
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=1)


def test_the_first_poll_claims_and_a_stale_one_is_refused(storage: Storage) -> None:
    def poll(measured_from: datetime | None, at: datetime, state: bytes) -> int | None:
        return collector_state.store_poll(storage, "shop", [], measured_from=measured_from,
                                          at=at, state=state)

    assert poll(None, T0, b"first") == 0  # claimed (psycopg gives no rowcount for an INSERT)
    assert poll(None, T0 + STEP, b"other worker") is None  # already claimed
    assert poll(T0, T0 + STEP, b"second") == 0
    assert poll(T0, T0 + 2 * STEP, b"stale") is None  # storage has moved past T0
    assert collector_state.load(storage, "shop") == b"second"

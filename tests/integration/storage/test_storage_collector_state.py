"""The snapshot claim of `collector_state.store_poll` on every backend: a target's first poll
claims it, a second first poll and a poll from a stale snapshot are refused; the target's
status is written with the poll or not at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from planwatch.config.settings import Secret, TargetSettings
from planwatch.errors import NotFound
from planwatch.model.samples import CollectorHealth
from planwatch.storage import collector_state, targets
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


def test_a_stored_poll_marks_the_target_up_in_the_same_transaction(storage: Storage) -> None:
    target = TargetSettings(name="shop", engine="postgresql", dsn=Secret("host=x"))
    targets.sync(storage, [target], T0)
    targets.set_status(storage, "shop", up=False, error="connection refused", at=T0)
    health = CollectorHealth(target="shop", at=T0 + STEP, entries=42, evicted=3)
    assert collector_state.store_poll(storage, "shop", [], measured_from=None, at=T0 + STEP,
                                      state=b"s", up_at=T0 + STEP, health=health) == 0
    record = targets.get(storage, "shop")
    assert record is not None
    assert (record.up, record.last_error, record.last_collected_at) == (True, None, T0 + STEP)
    assert record.health is not None and record.health.evicted == 3

    # refused (stale): neither samples nor status are written
    assert collector_state.store_poll(storage, "shop", [], measured_from=T0, at=T0 + 2 * STEP,
                                      state=b"t", up_at=T0 + 2 * STEP, health=health) is None
    assert targets.get(storage, "shop").last_collected_at == T0 + STEP  # type: ignore[union-attr]

    # an unknown target: the whole poll is rolled back, the snapshot stays where it was
    with pytest.raises(NotFound):
        collector_state.store_poll(storage, "gone", [], measured_from=None, at=T0,
                                   state=b"g", up_at=T0, health=None)
    assert collector_state.load(storage, "gone") is None

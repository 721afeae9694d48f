"""Row leases: claim, renew, expiry, release, and SKIP LOCKED between concurrent claimers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from planwatch.storage import leases
from planwatch.storage.engine import Storage
from planwatch.storage.tables import leases as lt

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=60)
NAMES = ["target:a", "target:b", "target:c"]


def test_claim_takes_free_rows_up_to_the_limit_and_never_anothers(storage: Storage) -> None:
    assert leases.claim(storage, NAMES, "w1", ttl=TTL, now=T0, limit=2) == NAMES[:2]
    assert leases.claim(storage, NAMES, "w2", ttl=TTL, now=T0, limit=5) == ["target:c"]
    assert leases.claim(storage, NAMES, "w3", ttl=TTL, now=T0, limit=5) == []
    assert leases.holders(storage, T0) == {"target:a": "w1", "target:b": "w1", "target:c": "w2"}
    assert leases.holders(storage, T0, prefix="target:c") == {"target:c": "w2"}


def test_reclaiming_own_lease_extends_it(storage: Storage) -> None:
    leases.claim(storage, ["job:analysis"], "w1", ttl=TTL, now=T0, limit=1)
    later = T0 + TTL - timedelta(seconds=1)
    assert leases.claim(storage, ["job:analysis"], "w1", ttl=TTL, now=later, limit=1)
    assert not leases.claim(storage, ["job:analysis"], "w2", ttl=TTL, now=T0 + TTL, limit=1)
    assert leases.holders(storage, T0 + TTL) == {"job:analysis": "w1"}


def test_expired_leases_move_and_renew_keeps_only_live_ones(storage: Storage) -> None:
    leases.claim(storage, NAMES, "w1", ttl=TTL, now=T0, limit=3)
    assert leases.renew(storage, "w1", ttl=TTL, now=T0 + timedelta(seconds=30)) == set(NAMES)
    dead_at = T0 + timedelta(seconds=91)  # renewed until T0+90s, then silent
    assert leases.claim(storage, NAMES, "w2", ttl=TTL, now=dead_at, limit=3) == NAMES
    assert leases.renew(storage, "w1", ttl=TTL, now=dead_at) == set()
    assert set(leases.holders(storage, dead_at).values()) == {"w2"}


def test_release_hands_over_at_once(storage: Storage) -> None:
    leases.claim(storage, NAMES, "w1", ttl=TTL, now=T0, limit=3)
    leases.release(storage, "w1", ["target:b"])
    assert leases.claim(storage, NAMES, "w2", ttl=TTL, now=T0, limit=3) == ["target:b"]
    leases.release(storage, "w1")
    assert leases.holders(storage, T0) == {"target:b": "w2"}
    leases.release(storage, "w2", [])  # nothing named: nothing released
    assert leases.holders(storage, T0) == {"target:b": "w2"}


def test_concurrent_claimers_skip_rows_locked_by_each_other(storage: Storage) -> None:
    if storage.dialect != "postgresql":
        pytest.skip("row locks exist only on PostgreSQL storage (SQLite serves one worker)")
    leases.claim(storage, NAMES, "seed", ttl=TTL, now=T0, limit=3)  # the rows exist ...
    leases.release(storage, "seed")  # ... and are all free
    with storage.begin() as conn:  # another worker's claim in flight holds target:a
        conn.execute(sa.select(lt.c.name).where(lt.c.name == "target:a").with_for_update())
        taken = leases.claim(storage, ["target:a", "target:b"], "w2", ttl=TTL, now=T0, limit=2)
    assert taken == ["target:b"]

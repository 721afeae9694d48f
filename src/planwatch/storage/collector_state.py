"""Each target's collector snapshot, advanced together with the samples measured from it.

`store_poll` writes a poll's samples and moves the target's stored snapshot from the one the
poll measured from to the one it took, in one transaction and only if the stored snapshot is
still the one the poll measured from (compare and set). So a poll's interval is stored exactly
once: a second worker that briefly polls the same target (a lease changing hands), or a poll
computed from a stale snapshot, writes nothing and learns it must reload the stored one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from planwatch.model.samples import CollectorHealth, QuerySample
from planwatch.storage import _sql, samples, targets
from planwatch.storage.engine import Storage
from planwatch.storage.tables import collector_state as c


def load(st: Storage, target: str) -> bytes | None:
    """The target's stored snapshot, or None (never polled, or the engine keeps none)."""
    with st.connect() as conn:
        value = conn.execute(sa.select(c.c.state).where(c.c.target == target)).scalar()
    return bytes(value) if value is not None else None


def store_poll(
    st: Storage, target: str, polled: Sequence[QuerySample], *, measured_from: datetime | None,
    at: datetime, state: bytes, up_at: datetime | None = None,
    health: CollectorHealth | None = None,
) -> int | None:
    """Write the samples and advance the snapshot to `at` (the poll's time, also the row's
    `updated_at`: storage does not read the clock); None (and nothing written) when the
    stored snapshot is no longer the one taken at `measured_from`. With `up_at`, the target's
    status (up, the poll's `health`) is written in the same transaction."""
    with st.begin() as conn:
        # RETURNING, not rowcount: psycopg under SQLAlchemy 2.1 reports -1 for an INSERT.
        if measured_from is None:
            stmt = _sql.insert(conn, c).values(target=target, at=at, state=state, updated_at=at)
            claimed = conn.execute(stmt.on_conflict_do_nothing(index_elements=["target"])
                                   .returning(c.c.target)).first()
        else:
            values = _sql.params({"at": at, "state": state, "updated_at": at})
            claimed = conn.execute(_ADVANCE, {"target_name": target,
                                              "measured_from": measured_from, **values}).first()
        if claimed is None:
            return None  # nothing was written: the claim itself changed no row
        written = samples.write(conn, polled)
        if up_at is not None:
            targets.record_status(conn, target, up=True, error=None, at=up_at, health=health)
        return written


_ADVANCE = (  # built once: every poll runs it (`_sql.bound`)
    sa.update(c)
    .where(c.c.target == sa.bindparam("target_name"), c.c.at == sa.bindparam("measured_from"))
    .values(_sql.bound(c, ("at", "state", "updated_at")))
    .returning(c.c.target)
)

"""queries.ensure_ids: ids in order, last_seen raised only for the queries passed, new ones
inserted alongside known ones, and the bulk sample write that relies on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from planwatch.model.samples import QueryRef, QuerySample
from planwatch.storage import queries, samples
from planwatch.storage.engine import Storage
from planwatch.storage.tables import queries as q

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)


def refs(n: int, target: str = "pg1", database: str = "shop") -> list[QueryRef]:
    return [QueryRef(target, database, str(1000 + i), f"fp{i}") for i in range(n)]


def seen(storage: Storage) -> dict[str, tuple[datetime, datetime, str]]:
    with storage.connect() as conn:
        rows = conn.execute(sa.select(q.c.query_id, q.c.first_seen, q.c.last_seen,
                                      q.c.fingerprint))
        return {r.query_id: (r.first_seen, r.last_seen, r.fingerprint) for r in rows}


def test_ids_follow_the_input_order_and_only_passed_queries_move(storage: Storage) -> None:
    known = refs(60)
    with storage.begin() as conn:
        first = queries.ensure_ids(conn, known, [T0] * len(known))
    assert len(set(first)) == 60
    subset = known[:40:3] + known[40:50]  # scattered ids and a consecutive block
    fresh = refs(65)[60:]
    batch = [*reversed(subset), *fresh]
    with storage.begin() as conn:
        again = queries.ensure_ids(conn, batch, [T0 + STEP] * len(batch))
    by_ref = dict(zip(known, first, strict=True))
    assert again[: len(subset)] == [by_ref[r] for r in reversed(subset)]
    assert len(set(again)) == len(batch)
    rows = seen(storage)
    moved = {r.query_id for r in subset}
    for r in known:
        assert rows[r.query_id][:2] == (T0, T0 + STEP if r.query_id in moved else T0)
    for r in fresh:
        assert rows[r.query_id][:2] == (T0 + STEP, T0 + STEP)


def test_never_lowers_last_seen_and_keeps_fingerprints_unless_given(storage: Storage) -> None:
    [a, b] = refs(2)
    queries.upsert(storage, [a, b], T0 + STEP)
    unnamed = QueryRef(a.target, a.database, a.query_id, "")
    renamed = QueryRef(b.target, b.database, b.query_id, "fp-new")
    with storage.begin() as conn:
        queries.ensure_ids(conn, [unnamed, renamed], [T0, T0 + 2 * STEP])
    rows = seen(storage)
    assert rows[a.query_id] == (T0 + STEP, T0 + STEP, "fp0")
    assert rows[b.query_id] == (T0 + STEP, T0 + 2 * STEP, "fp-new")


def test_repeated_refs_take_their_latest_time(storage: Storage) -> None:
    [a] = refs(1)
    with storage.begin() as conn:
        ids = queries.ensure_ids(conn, [a, a], [T0 + STEP, T0])
    assert ids[0] == ids[1]
    assert seen(storage)[a.query_id][:2] == (T0, T0 + STEP)


def test_bulk_samples_of_two_targets_land_on_their_queries(storage: Storage) -> None:
    pg1, pg2 = refs(300), refs(300, target="pg2", database="crm")
    batch = [QuerySample(r, T0, T0 + STEP, i + 1, 2.0 * (i + 1), extras={"plans": i} if i else {})
             for i, r in enumerate([*pg1, *pg2])]
    assert samples.insert(storage, batch) == 600
    assert samples.insert(storage, list(reversed(batch))) == 600
    back = samples.window(storage, "pg2", T0, T0 + STEP)
    assert [(s.ref.query_id, s.calls, s.total_ms) for s in back] == [
        (r.query_id, 301 + i, 2.0 * (301 + i)) for i, r in enumerate(pg2)]
    assert back[5].extras == {"plans": 305} and back[0].mean_ms == 2.0
    assert samples.window(storage, "pg1", T0, T0 + STEP)[0].extras == {}

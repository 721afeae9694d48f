"""Row leases with expiry, so several workers on PostgreSQL storage share targets and jobs.

A lease is a row `name -> owner until expires_at`. Free or expired rows are claimed with
`SELECT … FOR UPDATE SKIP LOCKED` (two workers never block on, nor double-claim, the same
row); the holder renews its rows before they expire; a dead worker's rows simply expire.
On SQLite (one worker) the same statements run without row locks.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from planwatch.storage import _sql
from planwatch.storage.engine import Storage
from planwatch.storage.tables import leases as ls

EXPIRED = datetime(1970, 1, 1, tzinfo=UTC)


def claim(
    st: Storage, names: Collection[str], owner: str, *, ttl: timedelta, now: datetime,
    limit: int,
) -> list[str]:
    """Take up to `limit` of `names` that are free, expired or already ours; the taken names."""
    if limit <= 0 or not names:
        return []
    with st.begin() as conn:
        stmt = _sql.insert(conn, ls).on_conflict_do_nothing(index_elements=["name"])
        conn.execute(stmt, [{"name": n, "owner": "", "acquired_at": now, "expires_at": EXPIRED,
                             "version": 0} for n in sorted(names)])
        free = (
            sa.select(ls.c.name)
            .where(ls.c.name.in_(sorted(names)),
                   sa.or_(ls.c.expires_at <= now, ls.c.owner == owner))
            .order_by(ls.c.name)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        taken = list(conn.execute(free).scalars())
        if taken:
            conn.execute(
                sa.update(ls).where(ls.c.name.in_(taken)).values(
                    owner=owner, expires_at=now + ttl, version=ls.c.version + 1,
                    acquired_at=sa.case((ls.c.owner == owner, ls.c.acquired_at), else_=now),
                )
            )
    return taken


def renew(st: Storage, owner: str, *, ttl: timedelta, now: datetime) -> set[str]:
    """Extend every unexpired lease of `owner`; the names it still holds."""
    with st.begin() as conn:
        mine = sa.and_(ls.c.owner == owner, ls.c.expires_at > now)
        held = set(conn.execute(sa.select(ls.c.name).where(mine)).scalars())
        if held:
            conn.execute(sa.update(ls).where(mine).values(expires_at=now + ttl))
    return held


def release(st: Storage, owner: str, names: Collection[str] | None = None) -> None:
    """Give leases back at once (all of `owner`'s when `names` is None)."""
    cond = ls.c.owner == owner
    if names is not None:
        if not names:
            return
        cond = sa.and_(cond, ls.c.name.in_(sorted(names)))
    with st.begin() as conn:
        conn.execute(sa.update(ls).where(cond).values(owner="", expires_at=EXPIRED))


def holders(st: Storage, now: datetime, prefix: str = "") -> dict[str, str]:
    """Unexpired leases (name -> owner), optionally only names starting with `prefix`."""
    stmt = sa.select(ls.c.name, ls.c.owner).where(ls.c.expires_at > now)
    if prefix:
        stmt = stmt.where(ls.c.name.startswith(prefix, autoescape=True))
    with st.connect() as conn:
        return {r.name: r.owner for r in conn.execute(stmt)}

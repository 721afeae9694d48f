"""Day partitions of `query_samples` on PostgreSQL storage (SPEC §3: retention drops whole days).

The table is range-partitioned by `interval_start`, one partition per UTC day, plus a DEFAULT
partition, so a write never fails for want of a partition (no DDL on the collection path, no
race between workers creating the same day). Rows land in the default only when nobody created
their day in time; `ensure` (run by `Storage.migrate` and the maintenance job) keeps
`AHEAD_DAYS` days ready and moves such rows into their day when it creates it, so retention can
drop them with the day. `query_samples_legacy` is the pre-partitioning table, attached as it
was by migration 0006 (no copy): it covers everything before its upper bound and is dropped
once all of it has expired. SQLite has no partitions: the functions here do nothing there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
import structlog

if TYPE_CHECKING:
    from planwatch.storage.engine import Storage

log = structlog.get_logger(__name__)

SAMPLES = "query_samples"
DEFAULT = f"{SAMPLES}_default"
AHEAD_DAYS = 14  # maintenance runs weekly by default: two weeks of partitions stay ready
LOCK_TIMEOUT = "10s"  # DDL waits this long for the table's lock, then fails (retried later)
DAY = timedelta(days=1)
_LOCK = 0x706C6470  # "pldp": advisory lock id serializing partition creation
_PARTITION_NAME = re.compile(rf"^{SAMPLES}_(p\d{{8}}|default|legacy)$")
_BOUND = re.compile(r"FROM \((.+?)\) TO \((.+?)\)")


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    lower: datetime | None  # None: unbounded (MINVALUE) or the default partition
    upper: datetime | None  # None: unbounded (MAXVALUE) or the default partition
    default: bool = False

    def overlaps(self, lower: datetime, upper: datetime) -> bool:
        if self.default:
            return False
        return (self.lower is None or self.lower < upper) and (
            self.upper is None or lower < self.upper)


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic `include_name`: compare the partitioned parent, not its partitions."""
    return not (type_ == "table" and name is not None and bool(_PARTITION_NAME.match(name)))


def day_floor(at: datetime) -> datetime:
    """Midnight UTC of `at`'s day."""
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def day_name(day: datetime) -> str:
    return f"{SAMPLES}_p{day:%Y%m%d}"


def partitioned(st: Storage) -> bool:
    """True when `query_samples` is a partitioned table (PostgreSQL after migration 0006)."""
    if st.dialect != "postgresql":
        return False
    with st.connect() as conn:
        return _partitioned(conn)


def _partitioned(conn: sa.Connection) -> bool:
    found = conn.execute(
        sa.text("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(:t)"),
        {"t": SAMPLES},
    ).first()
    return found is not None


def listing(conn: sa.Connection) -> list[Partition]:
    """The partitions of `query_samples` with their bounds, oldest first, default last."""
    rows = conn.execute(sa.text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:t)"
    ), {"t": SAMPLES}).all()
    found = [_parse(name, bound) for name, bound in rows]
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda p: (p.default, p.lower or epoch, p.name))


def _parse(name: str, bound: str) -> Partition:
    if bound.strip().upper() == "DEFAULT":
        return Partition(name, None, None, default=True)
    match = _BOUND.search(bound)
    if match is None:
        raise ValueError(f"unexpected partition bound of {name}: {bound}")
    lower, upper = (_value(v) for v in match.groups())
    return Partition(name, lower, upper)


def _value(literal: str) -> datetime | None:
    """A bound as pg_get_expr prints it: MINVALUE / MAXVALUE or a quoted timestamptz."""
    text = literal.strip()
    if text.upper() in ("MINVALUE", "MAXVALUE"):
        return None
    return datetime.fromisoformat(text.strip("'")).astimezone(UTC)


def _literal(at: datetime) -> str:
    """A bound for DDL (which takes no parameters); only ever a datetime made here."""
    return f"'{at.astimezone(UTC).isoformat()}'"


def ensure(st: Storage, now: datetime, ahead: int = AHEAD_DAYS) -> list[str]:
    """Create the partitions of today and the next `ahead` days, and of every day that has
    rows waiting in the default partition (moving them in); the names created.

    One transaction under an advisory lock: workers starting together (each migrates) and
    the maintenance job never race for the same day.
    """
    if not partitioned(st):
        return []
    created = []
    with st.begin() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK})")
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        existing = listing(conn)
        waiting = {d.replace(tzinfo=UTC) for d in conn.execute(sa.text(  # naive UTC days
            f"SELECT DISTINCT date_trunc('day', interval_start AT TIME ZONE 'UTC') FROM {DEFAULT}"
        )).scalars()} if any(p.default for p in existing) else set()
        today = day_floor(now)
        for day in sorted({today + DAY * i for i in range(ahead + 1)} | waiting):
            if not any(p.overlaps(day, day + DAY) for p in existing):
                _create(conn, day, moving=day in waiting)
                created.append(day_name(day))
    if created:
        log.info("partitions.created", table=SAMPLES, partitions=created)
    return created


def _create(conn: sa.Connection, day: datetime, *, moving: bool) -> None:
    """One day's partition; with `moving`, its rows leave the default partition first
    (PostgreSQL refuses a new partition while the default holds rows of it)."""
    name, lo, hi = day_name(day), _literal(day), _literal(day + DAY)
    if not moving:
        conn.exec_driver_sql(
            f"CREATE TABLE {name} PARTITION OF {SAMPLES} FOR VALUES FROM ({lo}) TO ({hi})")
        return
    conn.exec_driver_sql(
        f"CREATE TABLE {name} (LIKE {SAMPLES} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    conn.exec_driver_sql(
        f"WITH moved AS (DELETE FROM {DEFAULT} WHERE interval_start >= {lo}"
        f" AND interval_start < {hi} RETURNING *) INSERT INTO {name} SELECT * FROM moved")
    conn.exec_driver_sql(
        f"ALTER TABLE {SAMPLES} ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})")


def expired(st: Storage, cutoff: datetime) -> list[Partition]:
    """Partitions whose whole range lies before `cutoff`, oldest first."""
    if not partitioned(st):
        return []
    with st.connect() as conn:
        return [p for p in listing(conn)
                if not p.default and p.upper is not None and p.upper <= cutoff]


def drop(conn: sa.Connection, partition: Partition) -> None:
    """Drop one partition inside the caller's transaction (which has rolled it up)."""
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    conn.exec_driver_sql(f"DROP TABLE {conn.dialect.identifier_preparer.quote(partition.name)}")

"""Weekly database maintenance: PostgreSQL sample partitions for the coming days and VACUUM
(ANALYZE) of planwatch's tables; SQLite `PRAGMA optimize`, incremental vacuum and a passive
WAL checkpoint.

VACUUM takes no lock that blocks inserts, one table at a time; SQLite's steps are short: the
incremental vacuum returns free pages to the file system a few thousand at a time, each step
its own short write, so a collection waits for one step at most.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from planwatch.storage import partitions
from planwatch.storage.engine import Storage
from planwatch.storage.tables import metadata

VACUUM_STEP_PAGES = 2_000  # pages returned per step (SQLite, auto_vacuum=INCREMENTAL)
VACUUM_MAX_STEPS = 5_000  # bound on one run (10M pages, 40 GB of 4 KiB pages)
_AUTO_VACUUM = {0: "none", 1: "full", 2: "incremental"}


def run(st: Storage, now: datetime) -> dict[str, Any]:
    """Run maintenance; returns what was done and how long each step took (seconds)."""
    if st.dialect == "postgresql":
        return _postgresql(st, now)
    if st.dialect == "sqlite":
        return _sqlite(st)
    return {"skipped": f"no maintenance for {st.dialect}"}


def _postgresql(st: Storage, now: datetime) -> dict[str, Any]:
    created = partitions.ensure(st, now)
    timings: dict[str, float] = {}
    with st.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # VACUUM refuses a txn
        preparer = conn.dialect.identifier_preparer
        for table in metadata.sorted_tables:
            t0 = time.monotonic()
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {preparer.format_table(table)}")
            timings[table.name] = round(time.monotonic() - t0, 3)
    return {"partitions_created": created, "vacuum_analyze": timings}


def _sqlite(st: Storage) -> dict[str, Any]:
    with st.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()  # autocommit (isolation_level None): each PRAGMA is its own write
        try:
            t0 = time.monotonic()
            cursor.execute("PRAGMA analysis_limit=1000")  # ANALYZE samples: bounded, quick
            cursor.execute("PRAGMA optimize")
            mode = cursor.execute("PRAGMA auto_vacuum").fetchone()[0]
            before = free = cursor.execute("PRAGMA freelist_count").fetchone()[0]
            steps = 0
            while mode == 2 and free > 0 and steps < VACUUM_MAX_STEPS:
                cursor.execute(f"PRAGMA incremental_vacuum({VACUUM_STEP_PAGES})").fetchall()
                free = cursor.execute("PRAGMA freelist_count").fetchone()[0]
                steps += 1
            checkpoint = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            cursor.close()
    done: dict[str, Any] = {
        "optimize": True, "auto_vacuum": _AUTO_VACUUM.get(mode),
        "free_pages_before": before, "free_pages_after": free,
        "wal_checkpoint": list(checkpoint) if checkpoint else None,
        "seconds": round(time.monotonic() - t0, 3),
    }
    if mode == 0 and before:
        done["hint"] = ("free pages are reused but never returned to the file system: this "
                        "database predates auto_vacuum=INCREMENTAL (docs/operations.md)")
    return done

"""Weekly database maintenance: PostgreSQL VACUUM (ANALYZE) of planwatch's tables; SQLite
`PRAGMA optimize`, incremental vacuum and a passive WAL checkpoint.

VACUUM takes no lock that blocks inserts, one table at a time; SQLite's steps are short.
"""

from __future__ import annotations

import time
from typing import Any

from planwatch.storage.engine import Storage
from planwatch.storage.tables import metadata

INCREMENTAL_PAGES = 10_000  # pages freed per run at most (SQLite, auto_vacuum=INCREMENTAL)


def run(st: Storage) -> dict[str, Any]:
    """Run maintenance; returns what was done and how long each step took (seconds)."""
    if st.dialect == "postgresql":
        return _postgresql(st)
    if st.dialect == "sqlite":
        return _sqlite(st)
    return {"skipped": f"no maintenance for {st.dialect}"}


def _postgresql(st: Storage) -> dict[str, Any]:
    timings: dict[str, float] = {}
    with st.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # VACUUM refuses a txn
        preparer = conn.dialect.identifier_preparer
        for table in metadata.sorted_tables:
            t0 = time.monotonic()
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {preparer.format_table(table)}")
            timings[table.name] = round(time.monotonic() - t0, 3)
    return {"vacuum_analyze": timings}


def _sqlite(st: Storage) -> dict[str, Any]:
    with st.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            t0 = time.monotonic()
            cursor.execute("PRAGMA analysis_limit=1000")  # ANALYZE samples: bounded, quick
            cursor.execute("PRAGMA optimize")
            mode = cursor.execute("PRAGMA auto_vacuum").fetchone()[0]
            before = cursor.execute("PRAGMA freelist_count").fetchone()[0]
            if mode == 2:  # INCREMENTAL
                cursor.execute(f"PRAGMA incremental_vacuum({INCREMENTAL_PAGES})").fetchall()
            after = cursor.execute("PRAGMA freelist_count").fetchone()[0]
            checkpoint = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            cursor.close()
    return {
        "optimize": True, "auto_vacuum": {0: "none", 1: "full", 2: "incremental"}.get(mode),
        "free_pages_before": before, "free_pages_after": after,
        "wal_checkpoint": list(checkpoint) if checkpoint else None,
        "seconds": round(time.monotonic() - t0, 3),
    }

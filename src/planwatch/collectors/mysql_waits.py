"""What MySQL/MariaDB statements wait on, sampled at each collection (see `collectors.waits`).

One snapshot per poll of the running statements (`events_statements_current`): an InnoDB row
lock (the transaction is in LOCK WAIT, from `information_schema.INNODB_TRX`, which needs the
PROCESS privilege), a lock named by the thread state ("Waiting for table metadata lock"), or
'CPU'. A running statement has no digest yet (it is computed at the end), so it is matched to
its digest by text fingerprint. Without PROCESS the collector warns once and samples without
row locks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pymysql

from planwatch.analysis import identity
from planwatch.collectors import mysql_session, waits
from planwatch.collectors.mysql_deltas import DigestKey
from planwatch.collectors.mysql_session import Connection
from planwatch.model.samples import QueryRef

NO_PROCESS_PRIVILEGE = (
    "row-lock waits are not visible without the PROCESS privilege "
    "(information_schema.INNODB_TRX): GRANT PROCESS ON *.* TO the monitoring account"
)


class WaitSampler:
    def __init__(self, watched: Callable[[DigestKey], bool], warn: Callable[[str], None]) -> None:
        self._watched, self._warn = watched, warn
        self._pending: waits.Pending[DigestKey] = waits.Pending()
        self._statement = "activity"

    def poll(
        self, conn: Connection, consumers: Mapping[str, bool], present: Sequence[DigestKey],
        refs: Mapping[DigestKey, QueryRef],
    ) -> dict[DigestKey, dict[str, Any]]:
        """Sample now; the extras for this poll's samples (`present`). Needs the
        events_statements_current consumer (nothing is sampled without it)."""
        if not consumers.get("events_statements_current"):
            return {}
        rows = self._rows(conn)
        by_text = {(k.schema, ref.fingerprint): k for k, ref in refs.items()
                   if ref.fingerprint} if rows else {}
        for r in rows:
            key = by_text.get((r["schema_name"], identity.fingerprint(str(r["sql_text"]))))
            if key is not None and self._watched(key):
                self._pending.seen(key, str(r["event"]), int(r["n"]))
        return self._pending.take(present)

    def _rows(self, conn: Connection) -> list[dict[str, Any]]:
        try:
            return mysql_session.fetch(conn, self._statement)
        except pymysql.err.OperationalError as exc:
            if self._statement != "activity" or not conn.open:
                raise
            self._warn(f"{NO_PROCESS_PRIVILEGE} ({exc.args[-1]})")
            self._statement = "activity_without_process"
            return mysql_session.fetch(conn, self._statement)

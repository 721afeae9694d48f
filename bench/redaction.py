"""Benchmark: what redacting secrets costs per log line, next to rendering the line as JSON.

Every log line passes through `logs.redact` (`planwatch.redaction` on each string) before it
is rendered; so do job, driver and delivery errors. Three kinds of line: a routine event, a
failed job carrying a driver error with DSNs in it, and an error with a 4 KB traceback. The
baseline is `json.dumps` of the same event (the JSON renderer's core), alternating with the
redaction, median of `--rounds` rounds of `--lines` lines each.
Run: .venv/bin/python bench/redaction.py [--rounds 11] [--lines 20000]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import common

from planwatch import logs

ERROR = ("TargetUnreachable: orders-db: cannot connect to db1:5432/orders as planwatch: "
         'connection to server at "db1" (10.0.0.5), port 5432 failed: FATAL:  password '
         'authentication failed for user "planwatch" (dsn: postgresql://planwatch:s3cr3t@db1/'
         "orders?sslmode=require&sslpassword=k3y)")
TRACE = "Traceback (most recent call last):\n" + "".join(
    f'  File "/srv/planwatch/src/planwatch/collectors/postgres.py", line {n}, in collect\n'
    f"    result = self._poll(conn, facts, now, wanted={{'query_id': {n}}})\n"
    for n in range(40)) + f"psycopg.OperationalError: {ERROR}"
EVENTS: dict[str, dict[str, Any]] = {
    "routine": {"event": "collection.done", "target": "orders-db", "samples": 212, "texts": 3,
                "plans": 1, "reset": False, "run_id": 8, "job": "collection:orders-db",
                "level": "info", "logger": "planwatch.collectors.postgres",
                "timestamp": "2026-11-23T11:08:14.906444Z"},
    "driver error": {"event": "job.failed", "error": ERROR, "consecutive_failures": 2,
                     "retry_at": "2026-11-23T11:08:16.109228+00:00", "run_id": 5,
                     "job": "collection:orders-db", "target": "orders-db", "level": "warning"},
    "4 KB traceback": {"event": "target.unreachable", "target": "orders-db", "exception": TRACE,
                       "level": "error", "logger": "planwatch.scheduling.runner"},
}


def per_line_us(work: Callable[[], object], lines: int) -> float:
    t0 = time.perf_counter()
    for _ in range(lines):
        work()
    return (time.perf_counter() - t0) / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="a smoke run; numbers mean nothing")
    args = parser.parse_args()
    rounds, lines = (3, 500) if args.quick else (args.rounds, args.lines)
    print(common.machine())
    rows = []
    for name, event in EVENTS.items():
        redacted: list[float] = []
        rendered: list[float] = []
        for _ in range(rounds):
            redacted.append(per_line_us(lambda e=event: logs.redact(None, "info", dict(e)), lines))
            rendered.append(per_line_us(lambda e=event: json.dumps(e), lines))
        r, j = common.median(redacted), common.median(rendered)
        rows.append([name, f"{r:.1f}", f"{j:.1f}", f"{r / j:.2f}"])
    print(common.table(["line", "redaction µs", "JSON render µs", "ratio"], rows))


if __name__ == "__main__":
    main()

"""Detection and diagnosis on a noisy workload: the scenario suite's table (issue 10).

Starts a throwaway PostgreSQL cluster, one shop database per scenario with its own noisy
workload (14 statement shapes, two roles, Poisson arrivals, bursts, connection churn), and ONE
fresh `planwatch run` watching them all with default settings except the intervals given here.
Once the baselines are usable, every change is made at once; the table says per scenario:
detected or not, seconds to the alert, the plan verdict, false alerts, and for a recovery the
seconds to auto-resolution. See planwatch.devtools.scenarios.

    .venv/bin/python bench/detection_scenarios.py            # 5 s / 10 s / 30 s window
    .venv/bin/python bench/detection_scenarios.py --collection 2 --analysis 4 --window 12
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import common

from planwatch.devtools import pgcluster, scenarios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection", type=int, default=5, help="collection interval, s")
    parser.add_argument("--analysis", type=int, default=10, help="analysis interval, s")
    parser.add_argument("--window", type=int, default=30, help="analysis window, s")
    parser.add_argument("--only", nargs="*", help="scenario names (default: all)")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument("--keep", type=Path,
                        help="keep planwatch's storage, config and log in this directory")
    args = parser.parse_args(argv)
    timing = scenarios.Timing(args.collection, args.analysis, args.window)
    chosen = [s for s in scenarios.SCENARIOS if not args.only or s.name in args.only]
    cluster = pgcluster.start_cluster({"shared_preload_libraries": "pg_stat_statements"})
    started = time.monotonic()
    try:
        facts = common.machine(cluster)
        with tempfile.TemporaryDirectory(prefix="planwatch-scenarios-") as tmp:
            workdir = args.keep or Path(tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            report = scenarios.run(cluster, workdir, scenarios=chosen, timing=timing,
                                   log=lambda m: print(m, flush=True))
            log_tail = (workdir / "planwatch.log").read_text()[-3000:]
    finally:
        cluster.cleanup()
    rows = [[o.scenario, o.expected or "no alert", "yes" if o.detected else "no",
             o.seconds_to_alert if o.seconds_to_alert is not None else "-",
             o.after_onset_s if o.after_onset_s is not None else "-", o.verdict or "-",
             len(o.false_alerts), len(o.dropped_pending),
             o.resolved_after_s if o.resolved_after_s is not None else "-",
             "PASS" if o.right else "MISS"] for o in report.outcomes]
    print()
    print(common.table(["scenario", "expected", "detected", "s to alert", "s after onset",
                        "verdict",
                        "false alerts", "pending, dropped", "s to resolve", "result"], rows))
    for o in report.outcomes:
        print(f"\n{o.scenario}: at the alert: {o.summary}\n  at the end: {o.final}")
        for f in o.false_alerts:
            print(f"  false alert: {f}")
        for f in o.dropped_pending:
            print(f"  pending, dropped (never notified): {f}")
    delays = [r["after_12th_s"] for r in report.learning if r["after_12th_s"] is not None]
    print(f"\nlearning: {len(report.learning)} statements became usable; after their 12th "
          f"clean interval: max {max(delays, default=0):.1f}s, median "
          f"{sorted(delays)[len(delays) // 2] if delays else 0:.1f}s (analysis every "
          f"{args.analysis}s)")
    print(f"plans captured per target over the run: {report.plans_captured}")
    print(f"\nmachine: {facts}\nwall time {time.monotonic() - started:.0f}s")
    if args.json:
        args.json.write_text(json.dumps({
            "timing": vars(args), "machine": facts,
            "outcomes": [o.__dict__ for o in report.outcomes], "learning": report.learning,
            "plans_captured": report.plans_captured}, default=str))
    if not all(o.right for o in report.outcomes):
        print(log_tail[-1500:], file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

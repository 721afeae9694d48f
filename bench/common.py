"""Shared helpers of the benchmarks: machine facts, settings, job deps, tables and JSON results.

The scripts in bench/ import this as a sibling module (`import common`): they are run as
`.venv/bin/python bench/<name>.py`, which puts bench/ first on sys.path.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from planwatch import logs
from planwatch.config import loader
from planwatch.config.settings import Settings
from planwatch.devtools import pgcluster
from planwatch.jobs.deps import JobDeps
from planwatch.runtime import RuntimeState
from planwatch.scheduling.breaker import BreakerBoard
from planwatch.storage.engine import Storage


def machine(cluster: pgcluster.PgCluster | None = None) -> dict[str, Any]:
    """What the numbers were measured on: cores, memory, PostgreSQL and Python versions."""
    facts: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "ram_gb": round(_ram_bytes() / 2**30, 1),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_at_start": load_line(),
    }
    if cluster is not None:
        facts["postgresql"] = cluster.psql("SHOW server_version").strip()
    return facts


def quiet_logs() -> None:
    """Warnings only: per-cycle info lines would be measured too and clutter the table."""
    logs.configure("warning", "console")


def _ram_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def settings(
    storage_url: str, targets: Sequence[Mapping[str, Any]] = (), **sections: Any
) -> Settings:
    """Validated settings from a mapping (the same loader `planwatch run` uses)."""
    raw: dict[str, Any] = {"storage": {"url": storage_url}, "targets": list(targets),
                           "http": {"enabled": False}, "logging": {"level": "warning"}}
    raw.update(sections)
    return loader.load_mapping(raw, environ={})


def job_deps(config: Settings, storage: Storage) -> JobDeps:
    """JobDeps built the way `App._start` builds them (no scheduler, no HTTP)."""
    sched = config.scheduling
    return JobDeps(
        settings=config, storage=storage, state=RuntimeState(),
        breakers=BreakerBoard.from_settings(sched),
        executor=ThreadPoolExecutor(max_workers=sched.max_parallel_targets + 4),
        worker_id="bench",
    )


def as_cluster_user(cluster: pgcluster.PgCluster, args: list[str]) -> list[str]:
    """`args` run as the cluster's OS user when we are root (like `PgCluster._run`)."""
    return args if cluster.user is None else ["runuser", "-u", cluster.user, "--", *args]


def run_client(cluster: pgcluster.PgCluster, args: list[str]) -> str:
    """Run a client binary of the cluster (pgbench, psql) and return its stdout."""
    res = subprocess.run(as_cluster_user(cluster, args), capture_output=True, text=True,
                         check=False, cwd=cluster.root)
    if res.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed ({res.returncode}): "
                           f"{res.stderr.strip()[-2000:]}")
    return res.stdout + res.stderr


class Meter:
    """CPU seconds of this process and garbage-collector pauses inside a `with` block.

    On a loaded machine wall time mostly measures waiting for a core; CPU time shows the work
    itself, and the GC pauses show what the block's allocations cost later.
    """

    def __init__(self) -> None:
        self.cpu_s = 0.0
        self.gc_s = 0.0
        self.full_gcs = 0
        self._gc_started = 0.0
        self._cpu0 = 0.0

    def _on_gc(self, phase: str, info: Mapping[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        self.gc_s += time.perf_counter() - self._gc_started
        self.full_gcs += int(info.get("generation") == 2)

    def __enter__(self) -> Meter:
        gc.callbacks.append(self._on_gc)
        self._cpu0 = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu_s = time.process_time() - self._cpu0
        gc.callbacks.remove(self._on_gc)

    def result(self) -> dict[str, float]:
        return {"cpu_s": self.cpu_s, "gc_s": self.gc_s, "full_gcs": self.full_gcs}


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float]) -> dict[str, float]:
    """min / median / mean / max / stdev / relative stdev of a series."""
    if not values:
        return {}
    mean = statistics.fmean(values)
    stdev = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"n": len(values), "min": min(values), "median": statistics.median(values),
            "mean": mean, "max": max(values), "stdev": stdev,
            "rel_stdev": stdev / mean if mean else 0.0}


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table."""
    cells = [[_cell(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(out)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"
    return str(value)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def write_json(path: str | None, name: str, data: Mapping[str, Any]) -> None:
    """Raw results as JSON, only where `--json PATH` asked for them (nothing is written by
    default: numbers reach docs/benchmarks.md by hand, with the command that made them)."""
    if not path:
        return
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = {"benchmark": name, "at": stamp, "argv": sys.argv[1:], **data}
    Path(path).write_text(json.dumps(payload, indent=2, default=str))
    print(f"raw results: {path}")


def load_line() -> str:
    """The 1/5/15-minute load averages, to record how busy the machine was."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"

"""What else changed when a query got slower with its plan unchanged: rows, blocks, spills, waits.

Pure summaries of a baseline and a window of samples, for a regression's details and for its
verdict: per-call rows, shared blocks and temp blocks before and after (with their ratio), and
what the query waited on in the window — from `extras["wait_ms"]` (pg_wait_sampling: time
waited, as a share of execution time) when present, else from `extras["activity"]`
(pg_stat_activity snapshots: share of the sessions seen running the query).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from planwatch.model.baselines import Baseline
from planwatch.model.samples import QuerySample

ORDER_OF_MAGNITUDE = 10.0
WAIT_SHARE = 0.3  # a wait event named as a cause from this share of the time up
MIN_OBSERVATIONS = 5  # pg_stat_activity snapshots of the query before a share is stated
CPU = "CPU"
SAME_WORK = (0.8, 1.25)  # per-call rows and blocks within this ratio: the same work


def per_call(samples: Sequence[QuerySample]) -> dict[str, float]:
    calls = sum(s.calls for s in samples)
    if not calls:
        return {"rows": 0.0, "blocks": 0.0, "temp_blocks": 0.0}
    return {
        "rows": sum(s.rows for s in samples) / calls,
        "blocks": sum(s.blks_hit + s.blks_read for s in samples) / calls,
        "temp_blocks": sum(s.blks_temp for s in samples) / calls,
    }


def resources(baseline: Baseline, samples: Sequence[QuerySample]) -> dict[str, Any]:
    """Rows, shared blocks and temp blocks per call, before (baseline) and after (window)."""
    after = per_call(samples)
    before = {"rows": baseline.rows_per_call, "blocks": baseline.blks_per_call,
              "temp_blocks": baseline.temp_blks_per_call}
    keys = {"rows": "rows_per_call", "blocks": "blks_per_call", "temp_blocks": "temp_blks_per_call"}
    return {keys[k]: _before_after(before[k], after[k]) for k in keys}


def moved_by_magnitude(details: dict[str, Any]) -> list[str]:
    """Which of rows and shared blocks per call moved by an order of magnitude either way.

    Temp blocks are left out: a sort or hash that starts spilling keeps its plan."""
    moved = []
    for key, label in (("blks_per_call", "blocks per call"), ("rows_per_call", "rows per call")):
        before, after = details[key]["before"], details[key]["after"]
        if max(before, after) < ORDER_OF_MAGNITUDE:
            continue  # a handful either way is no magnitude
        if after >= ORDER_OF_MAGNITUDE * before:
            moved.append(f"{label} moved {after / before:.0f}x up" if before else
                         f"{label} went from 0 to {after:g}")
        elif before >= ORDER_OF_MAGNITUDE * after:
            moved.append(f"{label} moved {before / after:.0f}x down" if after else
                         f"{label} went from {before:g} to 0")
    return moved


def spill(details: dict[str, Any], settings: dict[str, str] | None = None) -> str | None:
    """A sentence when temp blocks per call appeared or at least doubled (a sort or hash that
    no longer fits in work_mem), naming the work_mem the plan was explained with if known."""
    temp = details["temp_blks_per_call"]
    before, after = temp["before"], temp["after"]
    if after <= 0 or after < 2 * before:
        return None
    where = f" (work_mem is {settings['work_mem']} for the application's role)" if (
        settings and "work_mem" in settings) else ""
    was = f"{before:g}" if before else "none"
    return (f"spills to disk: {after:g} temp blocks per call (was {was}); a sort or hash no "
            f"longer fits in work_mem{where}")


def same_work(details: dict[str, Any]) -> str | None:
    """A sentence when the query does the same work per call (rows and shared blocks within
    25 %, no new spill) and was not seen waiting: the extra time is CPU, taken by other load on
    the server or a slower host, not by the query itself."""
    for key in ("rows_per_call", "blks_per_call"):
        ratio = details[key]["ratio"]
        if ratio is not None and not SAME_WORK[0] <= ratio <= SAME_WORK[1]:
            return None
    temp = details["temp_blks_per_call"]
    if temp["after"] > temp["before"] * SAME_WORK[1]:
        return None
    events = (details.get("waits") or {}).get("events") or []
    if any(e["share"] >= WAIT_SHARE for e in events):  # even a few sightings of a wait count
        return None
    return ("the same work per call (rows and blocks unchanged) and not seen waiting: the "
            "extra time is CPU, likely contention with other load on the server or a slower "
            "host")


def waits(samples: Iterable[QuerySample]) -> dict[str, Any] | None:
    """What the query waited on over `samples`, or None without any observation."""
    chosen = list(samples)
    timed: dict[str, float] = {}
    seen: dict[str, int] = {}
    for s in chosen:
        for event, ms in (s.extras.get("wait_ms") or {}).items():
            timed[event] = timed.get(event, 0.0) + float(ms)
        for event, n in (s.extras.get("activity") or {}).items():
            seen[event] = seen.get(event, 0) + int(n)
    total_ms = sum(s.total_ms for s in chosen)
    if timed and total_ms > 0:
        shares = {e: min(1.0, ms / total_ms) for e, ms in timed.items()}
        return _summary("pg_wait_sampling", shares, None)
    if seen:
        total = sum(seen.values())
        return _summary("pg_stat_activity", {e: n / total for e, n in seen.items()}, total)
    return None


def _summary(source: str, shares: dict[str, float], observations: int | None) -> dict[str, Any]:
    events = sorted(((e, share) for e, share in shares.items() if e != CPU),
                    key=lambda kv: (-kv[1], kv[0]))
    out: dict[str, Any] = {
        "source": source,
        "events": [{"event": e, "share": round(share, 3)} for e, share in events[:5]],
    }
    if observations is not None:
        out["observations"] = observations
        out["cpu_share"] = round(shares.get(CPU, 0.0), 3)
    top = events[0] if events else None
    few = observations is not None and observations < MIN_OBSERVATIONS
    if top is not None and top[1] >= WAIT_SHARE and not few:
        of = f" ({round(top[1] * observations)} of {observations} observations)" if (
            observations) else " of its execution time"
        out["summary"] = f"waiting on {top[0]} {top[1]:.0%} of the time{of}"
    return out


def _before_after(before: float, after: float) -> dict[str, float | None]:
    ratio = after / before if before > 0 else None
    return {"before": round(before, 3), "after": round(after, 3),
            "ratio": round(ratio, 2) if ratio is not None else None}

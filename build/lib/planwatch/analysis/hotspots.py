"""Hotspots: the queries that dominate a target's time, I/O or calls in the window.

Per target and metric, the top `top_n` queries by value, kept only when their share of the
target's total is >= `min_share`. Metrics:
- `time`: total execution time (ms);
- `io`: blocks read from disk plus temp blocks written/read (physical I/O). When the target
  did no physical I/O at all in the window (everything cached), `io` falls back to logical
  I/O, blocks hit + read, so the buffer-heavy queries still show up;
- `calls`: executions.
A hotspot is `new_in_top` when `previous_top` has history for that metric and the query was
not in it. A missing metric key means no history yet, so nothing is "new" on the first run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from planwatch.analysis import baselines
from planwatch.config.settings import HotspotSettings
from planwatch.model.findings import Hotspot
from planwatch.model.samples import QueryRef, QuerySample

METRICS = ("time", "io", "calls")


def find(
    window: Sequence[QuerySample],
    *,
    previous_top: Mapping[str, set[QueryRef]],
    settings: HotspotSettings,
) -> list[Hotspot]:
    """Hotspots of every target in `window`, ordered by target, metric, rank."""
    by_target: dict[str, list[QuerySample]] = defaultdict(list)
    for s in baselines.usable(window):
        by_target[s.ref.target].append(s)
    out: list[Hotspot] = []
    for target in sorted(by_target):
        totals = _totals(by_target[target])
        for metric in METRICS:
            out += _top(totals[metric], metric, previous_top.get(metric), settings)
    return out


def top_sets(hotspots: Iterable[Hotspot]) -> dict[str, set[QueryRef]]:
    """The current top sets per metric, to pass as `previous_top` next time."""
    sets: dict[str, set[QueryRef]] = {metric: set() for metric in METRICS}
    for h in hotspots:
        sets.setdefault(h.metric, set()).add(h.ref)
    return sets


def _totals(samples: list[QuerySample]) -> dict[str, dict[QueryRef, float]]:
    totals: dict[str, dict[QueryRef, float]] = {m: defaultdict(float) for m in METRICS}
    logical: dict[QueryRef, float] = defaultdict(float)
    for s in samples:
        totals["time"][s.ref] += s.total_ms
        totals["calls"][s.ref] += s.calls
        totals["io"][s.ref] += s.blks_read + s.blks_temp
        logical[s.ref] += s.blks_hit + s.blks_read
    if not any(totals["io"].values()):
        totals["io"] = logical
    return totals


def _top(
    values: dict[QueryRef, float],
    metric: str,
    previous: set[QueryRef] | None,
    settings: HotspotSettings,
) -> list[Hotspot]:
    grand = sum(values.values())
    if grand <= 0:
        return []
    ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0].query_id))[: settings.top_n]
    return [
        Hotspot(ref, metric, value / grand, rank, value,
                new_in_top=previous is not None and ref not in previous)
        for rank, (ref, value) in enumerate(ranked, start=1)
        if value / grand >= settings.min_share
    ]

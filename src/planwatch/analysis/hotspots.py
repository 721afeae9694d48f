"""Hotspots: the queries that dominate a target's time, I/O or calls in the window, and the
lasting shifts in where the time goes (the only hotspots that alert).

Per target and metric, the top `top_n` queries by value, kept only when their share of the
target's total is >= `min_share`. Metrics:
- `time`: total execution time (ms);
- `io`: blocks read from disk plus temp blocks written/read (physical I/O). When the target
  did no physical I/O at all in the window (everything cached), `io` falls back to logical
  I/O, blocks hit + read, so the buffer-heavy queries still show up;
- `calls`: executions.
Rankings are for the dashboard and the daily summary: queries swap places in a top-N all
the time, so a rank is never alerted on.

`shifts` finds what deserves an alert: a query that was not heavy in the baseline period
(share of the target's database time < `min_share`) and now is: its share in the window is
>= `min_share`, >= `SHIFT_RATIO` times what it was and `min_share` above it, with >=
`min_calls` calls in the window (one long call is no lasting change), a share of the calls
at least `SHIFT_RATIO / 2` times its baseline share and a per-call cost below `min_ratio`
times its baseline median (the shift comes from how often it runs; a query that got slower
per call is the regression detector's to judge); or a query new to the target
(no usable baseline, first seen after the target had been watched for a while: `newcomers`)
that takes >= `min_share` with >= `min_calls` calls. The alert lifecycle's pending period
(`for`) makes it "stays heavy".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence

from planwatch.analysis import baselines
from planwatch.model.baselines import Baseline
from planwatch.model.findings import Hotspot, HotspotShift
from planwatch.model.policies import HotspotSettings
from planwatch.model.samples import QueryRef, QuerySample

METRICS = ("time", "io", "calls")
SHIFT_RATIO = 3.0


def find(window: Sequence[QuerySample], *, settings: HotspotSettings) -> list[Hotspot]:
    """Hotspots of every target in `window`, ordered by target, metric, rank."""
    by_target: dict[str, list[QuerySample]] = defaultdict(list)
    for s in baselines.usable(window):
        by_target[s.ref.target].append(s)
    out: list[Hotspot] = []
    for target in sorted(by_target):
        totals = _totals(by_target[target])
        for metric in METRICS:
            out += _top(totals[metric], metric, settings)
    return out


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


def _top(values: dict[QueryRef, float], metric: str, settings: HotspotSettings) -> list[Hotspot]:
    grand = sum(values.values())
    if grand <= 0:
        return []
    ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0].query_id))[: settings.top_n]
    return [
        Hotspot(ref, metric, value / grand, rank, value)
        for rank, (ref, value) in enumerate(ranked, start=1)
        if value / grand >= settings.min_share
    ]


def shifts(
    by_query: Mapping[QueryRef, Sequence[QuerySample]],
    *,
    known: Mapping[QueryRef, Baseline],
    usable: Collection[QueryRef],
    newcomers: Collection[QueryRef],
    settings: HotspotSettings,
    min_calls: int,
    min_ratio: float,
) -> list[HotspotShift]:
    """Lasting shifts of database time (module doc), heaviest first. `by_query` is the
    window's samples of each query, `known` the baselines of the window's target(s), `usable`
    the queries whose baseline is usable."""
    time: dict[QueryRef, float] = {}
    calls: dict[QueryRef, int] = {}
    for ref, xs in by_query.items():
        chosen = baselines.usable(xs)
        if chosen:
            time[ref] = sum(s.total_ms for s in chosen)
            calls[ref] = sum(s.calls for s in chosen)
    before = _baseline_shares(known, lambda b: b.calls * b.mean_ms)
    calls_before = _baseline_shares(known, lambda b: float(b.calls))
    out = []
    for target in sorted({ref.target for ref in time}):
        grand = sum(v for ref, v in time.items() if ref.target == target)
        all_calls = sum(n for ref, n in calls.items() if ref.target == target)
        for ref, ms in time.items():
            if ref.target != target or grand <= 0 or calls[ref] < min_calls:
                continue
            share = ms / grand
            if share < settings.min_share:
                continue
            if ref in usable:
                was = before.get(ref, 0.0)
                cheap = ms / calls[ref] < min_ratio * known[ref].median_ms
                busier = calls[ref] / all_calls >= SHIFT_RATIO / 2 * calls_before.get(ref, 0.0)
                if (was < settings.min_share and cheap and busier
                        and share >= SHIFT_RATIO * was and share - was >= settings.min_share):
                    out.append(HotspotShift(ref, share, was, ms, calls[ref]))
            elif ref in newcomers:
                out.append(HotspotShift(ref, share, 0.0, ms, calls[ref], new_query=True))
    return sorted(out, key=lambda h: (-h.total_ms, h.ref.query_id))


def _baseline_shares(
    known: Mapping[QueryRef, Baseline], measure: Callable[[Baseline], float]
) -> dict[QueryRef, float]:
    """Each query's share of its target's total of `measure` over the baseline period."""
    value = {ref: measure(b) for ref, b in known.items()}
    totals: dict[str, float] = defaultdict(float)
    for ref, v in value.items():
        totals[ref.target] += v
    return {ref: v / totals[ref.target] for ref, v in value.items() if totals[ref.target] > 0}

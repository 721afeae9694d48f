"""Baselines that become usable as soon as there is enough clean history (SPEC section 11).

A query is *learning* while its baseline has fewer than `min_baseline_samples` intervals (or
none). Every analysis run grows a learning baseline from the samples collected since it was
last built, unless those samples look like a slowdown against what was learned so far: a batch
whose mean meets the regression effect rule AND is significant (the same Welch test detection
uses) is held out, never folded in. With fewer than `JUDGE_AFTER` intervals learned there is
nothing to judge against and the batch is folded in.

A query whose every batch has been held out for `resolve_after_windows` windows did not regress
while learning: its behaviour changed for good. It restarts learning from the first held-out
interval (the earlier samples are then the ones held out), so no query stays learning forever.

A usable baseline is not touched here: the nightly rebuild recomputes it, leaving out every
held-out interval (regressions are held out by the analysis job), so a regression is never
absorbed into the baseline it is measured against. Pure: plain data in, decisions out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from planwatch.analysis import baselines, regressions
from planwatch.model.baselines import Baseline
from planwatch.model.policies import RegressionSettings
from planwatch.model.samples import QueryRef, QuerySample

JUDGE_AFTER = 3  # intervals learned before a new batch can be judged against them


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a query's baseline is: `samples` usable intervals of `needed`."""

    samples: int
    needed: int

    @property
    def learning(self) -> bool:
        return self.samples < self.needed


@dataclass(frozen=True, slots=True)
class Decisions:
    """What one analysis run does to the learning baselines of a target."""

    rebuild: set[QueryRef] = field(default_factory=set)  # recompute from clean samples
    hold: list[tuple[QueryRef, datetime]] = field(default_factory=list)  # (query, start)


def progress(baseline: Baseline | None, settings: RegressionSettings) -> Progress:
    return Progress(baseline.n if baseline else 0, settings.min_baseline_samples)


def is_learning(baseline: Baseline | None, settings: RegressionSettings) -> bool:
    return progress(baseline, settings).learning


def decide(
    known: Mapping[QueryRef, Baseline],
    recent: Mapping[QueryRef, Sequence[QuerySample]],
    settings: RegressionSettings,
    now: datetime,
) -> Decisions:
    """For every learning query with new samples: grow its baseline, or hold the batch out."""
    out = Decisions()
    for ref, window in recent.items():
        baseline = known.get(ref)
        if not is_learning(baseline, settings):
            continue
        since = baseline.window_end if baseline else None
        batch = [s for s in baselines.usable(window)
                 if not s.held_out and (since is None or s.interval_end > since)]
        if not batch:
            continue
        if baseline is None or not _slower(baseline, batch, settings):
            out.rebuild.add(ref)
            continue
        out.hold.extend((ref, s.interval_start) for s in batch)
    return out


def restarts(
    held_since: Mapping[QueryRef, datetime], settings: RegressionSettings, now: datetime
) -> dict[QueryRef, datetime]:
    """Learning queries held out continuously for `resolve_after_windows` windows, and the
    start of their first held-out interval, from which they learn again. `held_since` is the
    first held-out interval of each query since its baseline was last grown."""
    patience = settings.window * settings.resolve_after_windows
    return {ref: since for ref, since in held_since.items() if now - since >= patience}


def _slower(baseline: Baseline, batch: Sequence[QuerySample], settings: RegressionSettings) -> bool:
    if baseline.n < JUDGE_AFTER:
        return False
    stats = baselines.summarize(batch)
    if stats is None or regressions.is_normal(baseline, batch, settings):
        return False
    return regressions.p_value(baseline, stats) < settings.p_value

"""The analysis policies: what counts as a regression and as a hotspot (SPEC §4).

Plain values owned here, below both `analysis/` (which applies them) and `config/` (which
validates the file's values for them, `_REGRESSION_RULES` / `_HOTSPOT_RULES` in
config/settings.py, and re-exports them), so analysis never depends on configuration code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class RegressionSettings:
    """What counts as a regression."""

    min_ratio: float = 2.0  # recent mean ≥ this times the baseline median ...
    critical_ratio: float = 5.0  # ... and critical from this ratio
    min_abs_ms: float = 5.0  # ... and above the baseline p95 by at least this
    min_calls: int = 10  # calls in the window: the evidence
    min_impact: timedelta = timedelta(seconds=1)  # extra database time per window
    p_value: float = 0.01
    baseline_days: int = 7
    min_baseline_samples: int = 12  # intervals before a query is judged (learning until then)
    window: timedelta = timedelta(minutes=15)
    resolve_after_windows: int = 3  # consecutive normal windows that resolve a finding


@dataclass(frozen=True, slots=True)
class HotspotSettings:
    """What counts as a hotspot."""

    top_n: int = 10
    min_share: float = 0.05  # share of the total below which a query is no hotspot

"""SQL and endpoint checks: what one run produced and what is stored about it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class CheckStatus(StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """Badness for "worst of" and the status metric: ok 0, warning 1, critical 2, error 3."""
        return _RANK[self]


_RANK = {CheckStatus.OK: 0, CheckStatus.WARNING: 1, CheckStatus.CRITICAL: 2, CheckStatus.ERROR: 3}

Labels = tuple[tuple[str, str], ...]
"""Label column name/value pairs of one dataset row, in `label_columns` order."""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One judged value: a scalar check gives one, a dataset check one per row."""

    status: CheckStatus
    message: str
    value: float | None = None
    value_text: str | None = None
    labels: Labels = ()


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One evaluation of one run of a check on one target, as stored in `check_results`."""

    check: str
    target: str
    status: CheckStatus
    message: str
    executed_at: datetime
    duration_ms: float | None = None
    value: float | None = None
    value_text: str | None = None
    labels: Labels = ()
    job_run_id: int | None = None

    @property
    def labels_dict(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True, slots=True)
class CheckSummary:
    """Database monitoring summary row: last outcome and 7-day success rate of a check."""

    check: str
    target: str
    last_status: CheckStatus
    last_at: datetime
    last_message: str
    last_value: float | None
    runs: int  # evaluations in the window
    ok: int
    window_days: int = 7

    @property
    def success_rate(self) -> float | None:
        return self.ok / self.runs if self.runs else None

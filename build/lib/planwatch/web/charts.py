"""Server-side sparklines: a check's recent values as SVG path data (pure, no JavaScript)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT, PAD = 120.0, 24.0, 2.0


@dataclass(frozen=True, slots=True)
class Sparkline:
    path: str  # SVG path of the values ("" when no point has a value)
    dots: tuple[tuple[float, float, str], ...]  # x, y, status of every point


def sparkline(points: Sequence[dict[str, Any]]) -> Sparkline:
    """Points ({"value", "status"}, oldest first) scaled into a WIDTH x HEIGHT box.

    Points without a value (errors) sit on the baseline so they still show their status.
    """
    if not points:
        return Sparkline("", ())
    values = [p["value"] for p in points if isinstance(p.get("value"), int | float)]
    lo, hi = (min(values), max(values)) if values else (0.0, 0.0)
    span = (hi - lo) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(points) - 1, 1)
    dots: list[tuple[float, float, str]] = []
    path: list[str] = []
    for i, p in enumerate(points):
        x = PAD + i * step
        v = p.get("value")
        y = HEIGHT - PAD
        if isinstance(v, int | float):
            y -= ((float(v) - lo) / span) * (HEIGHT - 2 * PAD)
            path.append(f"{'M' if not path else 'L'}{x:.1f},{y:.1f}")
        dots.append((round(x, 1), round(y, 1), str(p.get("status", ""))))
    return Sparkline(" ".join(path), tuple(dots))

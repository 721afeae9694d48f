"""Where the real-plan fixtures live: `tests/fixtures/plans`, a byte-for-byte copy of the
team's `shared/fixtures` (sources and licences in its SOURCES.md), so a clone is self-contained."""

from __future__ import annotations

from pathlib import Path

LOCAL_FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURES = LOCAL_FIXTURES / "plans"

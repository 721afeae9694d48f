"""planwatch: catch database performance regressions before users feel them."""

from __future__ import annotations

__version__ = "0.1.0"

"""Engine SQL kept as data: `sql/<engine>.sql` files split into `-- name: xxx` sections.

Every statement planwatch sends starts with `PREFIX`, so the collector can recognise (and
exclude) its own statements in the engine's statistics.
"""

from __future__ import annotations

import functools
import importlib.resources
import re

PREFIX = "/* planwatch */"

_SECTION = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.M)


def parse(text: str) -> dict[str, str]:
    """Named statements of one file, each prefixed with `PREFIX` and stripped of `;`."""
    parts = _SECTION.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        statement = body.strip().rstrip(";").strip()
        if name in queries:
            raise ValueError(f"duplicate query name {name!r}")
        queries[name] = f"{PREFIX} {statement}"
    return queries


@functools.cache
def queries(engine: str) -> dict[str, str]:
    """The named statements of `sql/<engine>.sql`, loaded once per process."""
    resource = importlib.resources.files("planwatch.collectors") / "sql" / f"{engine}.sql"
    return parse(resource.read_text(encoding="utf-8"))


def is_own(text: str | None) -> bool:
    """True for statement texts planwatch itself sent."""
    return text is not None and text.lstrip().startswith(PREFIX)

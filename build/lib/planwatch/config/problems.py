"""Config problems: a location in the config tree plus a message, and how locations read."""

from __future__ import annotations

from planwatch.errors import ConfigError

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]


def format_loc(loc: Loc) -> str:
    """`("targets", 2, "dsn")` -> `targets[2].dsn`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def raise_if_any(problems: list[Problem]) -> None:
    """Raise one `ConfigError` carrying every problem, each once, sorted by location."""
    ordered = sorted(problems, key=lambda p: _sort_key(p[0]))
    unique = dict.fromkeys((format_loc(loc), msg) for loc, msg in ordered)
    if unique:
        raise ConfigError(list(unique))


def _sort_key(loc: Loc) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in loc)

"""Map the pg_stat_statements columns of whatever version is installed to canonical names.

The view changes with every extension version (engines.md §1.2), so the collector reads the
column list once per connection and selects what is there. Canonical names are the newest
spellings: `total_time` → `total_exec_time`, `blk_read_time` → `shared_blk_read_time`, ...
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

RENAMED: Mapping[str, str] = {
    "total_time": "total_exec_time",  # PG ≤ 12
    "blk_read_time": "shared_blk_read_time",  # PG ≤ 16
    "blk_write_time": "shared_blk_write_time",  # PG ≤ 16
}
IDENTITY = frozenset({"userid", "dbid", "queryid", "toplevel", "query"})
TIMESTAMPS = frozenset({"stats_since", "minmax_stats_since"})
# min/max/mean/stddev are cumulative over the entry's life and cannot become interval values.
NOT_SUMMABLE_PREFIXES = ("min_", "max_", "mean_", "stddev_")
NUMERIC_TYPES = frozenset({"bigint", "integer", "smallint", "double precision", "real", "numeric"})


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Which pg_stat_statements columns exist, and the canonical name of each counter."""

    counters: Mapping[str, str]  # actual column -> canonical counter name
    has_toplevel: bool
    has_stats_since: bool

    def canonical(self) -> frozenset[str]:
        return frozenset(self.counters.values())


def map_columns(columns: Iterable[str], non_numeric: Collection[str] = ()) -> ColumnMap:
    """Every cumulative numeric column becomes a counter; identity, timestamps and stats don't.

    `non_numeric` names columns whose type is not a number (unknown future columns), which
    are skipped rather than summed.
    """
    names = list(columns)
    counters: dict[str, str] = {}
    for name in names:
        if name in IDENTITY or name in TIMESTAMPS or name in non_numeric:
            continue
        if name.startswith(NOT_SUMMABLE_PREFIXES):
            continue
        counters[name] = RENAMED.get(name, name)
    return ColumnMap(
        counters=counters,
        has_toplevel="toplevel" in names,
        has_stats_since="stats_since" in names,
    )


def non_numeric(typed_columns: Iterable[tuple[str, str]]) -> frozenset[str]:
    """Names of the columns whose SQL type is not a number."""
    return frozenset(name for name, type_ in typed_columns if type_ not in NUMERIC_TYPES)

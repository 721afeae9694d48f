"""pg_stat_statements counters column-wise: one numpy row per entry (or per query).

A poll reads thousands of entries with ~30 counters each; subtracting and filtering them as
arrays costs a fraction of doing it with one dict per entry. Counters are float64, exact for
whole numbers below 2**53 (far beyond any real counter); columns named in `integers` come
back out as Python ints.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import numpy as np

from planwatch.model.samples import QueryRef, QuerySample

K = TypeVar("K", bound=Hashable)

MAIN_COUNTERS = frozenset(
    {"calls", "total_exec_time", "rows", "shared_blks_hit", "shared_blks_read",
     "temp_blks_read", "temp_blks_written"}
)


@dataclass(frozen=True, slots=True)
class Counters(Generic[K]):
    """Counter rows keyed by `keys` (row i belongs to keys[i]); columns named by `names`."""

    keys: Sequence[K]
    names: tuple[str, ...]
    values: Any  # np.ndarray of float64, shape (len(keys), len(names))
    integers: frozenset[str] = frozenset()
    index: Mapping[K, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", dict(zip(self.keys, range(len(self.keys)),
                                                  strict=True)))

    @classmethod
    def from_rows(
        cls, keys: Sequence[K], names: Sequence[str], rows: Iterable[Sequence[float]],
        integers: Iterable[str] = (),
    ) -> Counters[K]:
        values = np.array(list(rows), dtype=np.float64).reshape(len(keys), len(names))
        return cls(keys, tuple(names), values, frozenset(integers) & frozenset(names))

    @classmethod
    def from_mappings(
        cls, keys: Sequence[K], counters: Sequence[Mapping[str, float]]
    ) -> Counters[K]:
        """Rows from one mapping per key; a name missing from a mapping counts 0, and a column
        whose values are all Python ints stays integer."""
        names: dict[str, None] = {}
        for c in counters:
            names.update(dict.fromkeys(c))
        integers = {n for n in names if all(isinstance(c.get(n, 0), int) for c in counters)}
        rows = [[c.get(n, 0) for n in names] for c in counters]
        return cls.from_rows(keys, list(names), rows, integers)

    @classmethod
    def empty(cls) -> Counters[K]:
        return cls([], (), np.zeros((0, 0)))

    def minus(self, before: Counters[K]) -> tuple[Any, Any]:
        """These rows less `before`'s rows of the same key (a key new to `before` stays whole),
        and each row's position in `before` (-1: new)."""
        pos = np.fromiter((before.index.get(k, -1) for k in self.keys), dtype=np.int64,
                          count=len(self.keys))
        found = pos >= 0
        delta = self.values.copy()
        delta[found] -= before.aligned(self.names)[pos[found]]
        return delta, pos

    def column(self, name: str) -> Any:
        """One counter for every row (zeros when the column does not exist)."""
        if name in self.names:
            return self.values[:, self.names.index(name)]
        return np.zeros(len(self.keys))

    def aligned(self, names: tuple[str, ...]) -> Any:
        """The values with columns in `names` order (missing columns are 0)."""
        if names == self.names:
            return self.values
        out = np.zeros((len(self.keys), len(names)))
        for j, name in enumerate(names):
            if name in self.names:
                out[:, j] = self.values[:, self.names.index(name)]
        return out

    def mapping(self, row: int) -> dict[str, float]:
        """One row as {name: value} without its zero counters."""
        return {name: self._value(name, v)
                for name, v in zip(self.names, self.values[row].tolist(), strict=True) if v}

    def mappings(self) -> dict[K, dict[str, float]]:
        return {key: self.mapping(i) for i, key in enumerate(self.keys)}

    def take(self, rows: Sequence[int]) -> Counters[K]:
        return Counters([self.keys[i] for i in rows], self.names,
                        self.values[np.asarray(rows, dtype=np.int64)], self.integers)

    def _value(self, name: str, value: float) -> float:
        return int(value) if name in self.integers else value


def to_samples(
    refs: Sequence[QueryRef],
    deltas: Counters[Any],
    start: datetime,
    end: datetime,
    plan_hashes: Sequence[str | None],
) -> list[QuerySample]:
    """One QuerySample per delta row, like `deltas.to_sample` of each row's mapping but
    column-wise: main counters from whole columns, extras only for rows that have any."""
    def ints(*names: str) -> list[int]:
        total = sum((deltas.column(n) for n in names), np.zeros(len(deltas.keys)))
        return [int(x) for x in total.tolist()]

    calls, rows = ints("calls"), ints("rows")
    hit, read = ints("shared_blks_hit"), ints("shared_blks_read")
    temp = ints("temp_blks_read", "temp_blks_written")
    total_ms = deltas.column("total_exec_time").tolist()
    extras = _extras(deltas)
    return [
        QuerySample(ref=refs[i], interval_start=start, interval_end=end, calls=calls[i],
                    total_ms=float(total_ms[i]), rows=rows[i], blks_hit=hit[i],
                    blks_read=read[i], blks_temp=temp[i], plan_hash=plan_hashes[i],
                    extras=extras.get(i, {}))
        for i in range(len(deltas.keys))
    ]


def _extras(deltas: Counters[Any]) -> dict[int, dict[str, Any]]:
    """Non-zero non-main counters per row (sorted by name; total_plan_time as plan_ms)."""
    columns = sorted((n, j) for j, n in enumerate(deltas.names) if n not in MAIN_COUNTERS)
    if not columns:
        return {}
    names = ["plan_ms" if n == "total_plan_time" else n for n, _ in columns]
    integer = [n in deltas.integers for n, _ in columns]
    sub = deltas.values[:, [j for _, j in columns]]
    rows, cols = np.nonzero(sub)  # row by row, columns in order: only what is there
    out: dict[int, dict[str, Any]] = {}
    for i, j, value in zip(rows.tolist(), cols.tolist(), sub[rows, cols].tolist(), strict=True):
        row = out.get(i)
        if row is None:
            row = out[i] = {}
        row[names[j]] = int(value) if integer[j] else value
    return out

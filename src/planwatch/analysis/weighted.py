"""Grouped, call-weighted statistics of interval means, vectorised with numpy.

Every group's statistics come out of a few whole-array operations (one float sort for the
quantiles, one cheap merge sort for the MAD, `bincount` for sums), so a week of samples for
thousands of queries is summarised without a Python loop per row or per query.

Weighted quantile rule (the "lower weighted quantile"): sort a group's values, accumulate
their weights, and take the first value whose cumulative weight reaches q * the group's
total weight. With weights [1, 1] and values [10, 20] the median is 10; with [1, 2] it is 20.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# Relative slack so that q * W landing exactly on an integer is not pushed to the next
# value by float rounding (0.95 * 20 must be 19, not 19.000000000000004).
_QUANTILE_SLACK = 1e-12
_DENSE_KEY_LIMIT = 50_000_000  # key ranges above this use np.unique instead of bincount


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Per-group statistics as parallel arrays indexed by group id."""

    n: IntArray  # observations (intervals) per group
    calls: IntArray
    mean: FloatArray  # sum(total) / sum(calls)
    std: FloatArray  # call-weighted, Bessel-corrected by the interval count
    median: FloatArray
    p95: FloatArray
    mad: FloatArray


def group_stats(group: IntArray, n_groups: int, calls: IntArray, total: FloatArray) -> GroupStats:
    """Statistics of the interval means `total / calls` per group, weighted by `calls`.

    `group` holds ids in [0, n_groups); every group must have at least one row and every
    row at least one call.
    """
    x = total / calls
    n = np.bincount(group, minlength=n_groups).astype(np.int64)
    w_sum = np.bincount(group, weights=calls, minlength=n_groups)
    mean = np.bincount(group, weights=total, minlength=n_groups) / w_sum
    sq = np.bincount(group, weights=calls * (x - mean[group]) ** 2, minlength=n_groups)
    bessel = np.where(n > 1, n / np.maximum(n - 1, 1), 0.0)
    std = np.sqrt(sq / w_sum * bessel)
    if n_groups == 0:
        return GroupStats(n, w_sum.astype(np.int64), mean, std, mean, mean, mean)

    lo, hi = _bounds(group, n_groups, x)
    order = sort_within_groups(group, n_groups, x, bounds=(lo, hi))
    ends = np.cumsum(n)
    med_at, p95_at = _positions(calls[order], ends, (0.5, 0.95))
    median, p95 = x[order[med_at]], x[order[p95_at]]

    # Along the x order, deviations from the median fall then rise: two monotone runs per
    # group, which a stable (merge) sort detects and orders in near-linear time.
    sorted_group = np.repeat(np.arange(n_groups, dtype=np.int64), n)
    dev = np.abs(x[order] - median[sorted_group])
    dev_span = (np.zeros(n_groups), np.maximum(median - lo, hi - median))
    dev_order = sort_within_groups(sorted_group, n_groups, dev, bounds=dev_span, stable=True)
    (mad_at,) = _positions(calls[order][dev_order], ends, (0.5,))
    mad = dev[dev_order[mad_at]]
    return GroupStats(n, w_sum.astype(np.int64), mean, std, median, p95, mad)


def sort_within_groups(
    group: IntArray,
    n_groups: int,
    values: FloatArray,
    *,
    bounds: tuple[FloatArray, FloatArray] | None = None,
    stable: bool = False,
) -> IntArray:
    """Row order sorted by (group, value), exactly.

    Fast path: one float sort on `group + 0.5 * value scaled to [0, 1] within its group`
    (`bounds` are per-group lower/upper bounds of the values, computed when omitted).
    Distinct values closer together than float resolution would get equal keys, so equal
    keys are checked and, if they hide distinct values, an exact (slower) lexsort is used.
    `stable` picks a merge sort, fast when the rows already form a few monotone runs.
    """
    lo, hi = bounds if bounds is not None else _bounds(group, n_groups, values)
    span = hi - lo
    span[~(span > 0)] = 1.0
    scale = 0.5 / span
    key = values - lo[group]
    key *= scale[group]
    key += group
    order: IntArray = np.argsort(key, kind="stable" if stable else "quicksort")
    # Correctly rounded arithmetic is monotone, so only equal keys can hide unequal values.
    sorted_key = key[order]
    ties = np.flatnonzero(sorted_key[1:] == sorted_key[:-1])
    if ties.size and np.any(values[order[ties]] != values[order[ties + 1]]):
        order = np.lexsort((values, group))
    return order


def _positions(
    sorted_weights: IntArray, ends: IntArray, qs: tuple[float, ...]
) -> tuple[IntArray, ...]:
    """Index of each group's lower weighted q-quantile in rows sorted by (group, value)."""
    cum = np.cumsum(sorted_weights)
    before = np.concatenate(([0], cum[ends[:-1] - 1]))
    total = cum[ends - 1] - before
    out = []
    for q in qs:
        need = np.maximum(np.ceil(q * total * (1 - _QUANTILE_SLACK)), 1).astype(np.int64)
        out.append(np.searchsorted(cum, before + need, side="left").astype(np.int64))
    return tuple(out)


def _bounds(group: IntArray, n_groups: int, values: FloatArray) -> tuple[FloatArray, FloatArray]:
    lo = np.full(n_groups, np.inf)
    hi = np.full(n_groups, -np.inf)
    np.minimum.at(lo, group, values)
    np.maximum.at(hi, group, values)
    return lo, hi


def dense_ids(keys: IntArray, limit: int) -> tuple[IntArray, IntArray]:
    """(distinct keys ascending, dense group id per row) without sorting when keys are small."""
    if limit <= _DENSE_KEY_LIMIT:
        present = np.bincount(keys, minlength=limit) > 0
        ids = np.cumsum(present) - 1
        return np.flatnonzero(present).astype(np.int64), ids[keys].astype(np.int64)
    distinct, inverse = np.unique(keys, return_inverse=True)
    return distinct.astype(np.int64), inverse.astype(np.int64)


def code_range(
    group: IntArray, n_groups: int, code: IntArray
) -> tuple[IntArray, IntArray]:
    """Smallest and largest code per group."""
    lowest = np.full(n_groups, np.iinfo(np.int64).max, dtype=np.int64)
    highest = np.full(n_groups, -1, dtype=np.int64)
    np.minimum.at(lowest, group, code)
    np.maximum.at(highest, group, code)
    return lowest, highest


def factorize_runs(labels: Sequence[str | None]) -> tuple[IntArray, list[str]]:
    """Code per row (-1 for None) and the distinct labels; codes follow the sorted labels.

    Works on runs of equal labels (consecutive intervals of a query share a plan), so only
    one Python operation per run, not per row.
    """
    arr = np.asarray(labels, dtype=object)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64), []
    starts = np.flatnonzero(np.concatenate(([True], arr[1:] != arr[:-1])))
    run_values = arr[starts].tolist()
    distinct = sorted({v for v in run_values if v is not None})
    index = {label: i for i, label in enumerate(distinct)}
    run_codes = np.array([index.get(v, -1) for v in run_values], dtype=np.int64)
    lengths = np.diff(np.append(starts, arr.size))
    return np.repeat(run_codes, lengths), distinct

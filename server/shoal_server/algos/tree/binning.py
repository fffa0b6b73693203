"""Bin edges of ``QuantilesGlobal``: LightGBM's greedy binning on a row sample.

``QuantilesGlobal`` cuts a numeric column into at most ``nbins`` bins holding about equal numbers of
rows. The boundaries follow LightGBM's ``BinMapper::FindBin`` (``GreedyFindBin`` inside
``FindBinWithZeroAsOneBin``; ``min_data_in_bin`` = 1): distinct values with at least a mean bin's
count get their own bin, other bins close greedily once they reach the mean size of the rest,
zero is a bin of its own between the negative and positive values, and a column with missing
values keeps one of the ``nbins`` for them. A boundary lies at the midpoint between the last value
of a bin and the first of the next. With the same rows and ``nbins = max_bin`` the partition is
LightGBM's, so on the same data and settings the trees agree (this is what makes the AUC of the
two match to the third decimal on continuous features, not just on integer ones).

The distinct values and counts come from a sample of at most ``SAMPLE_ROWS`` rows (LightGBM's
``bin_construct_sample_cnt``), chosen by a counter hash of the global row index, so the edges do
not depend on chunking or node count. Row weights do not enter the binning (as in LightGBM).

LightGBM puts ``x`` in bin ``i`` when ``x <= upper[i]``; the engine's code of ``x`` is the number of
edges ``<= x``. The edge used for an upper bound ``u`` is therefore ``nextafter(u, +inf)``: both
give every value the same bin.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["SAMPLE_ROWS", "ZERO_THRESHOLD", "greedy_upper_bounds", "find_upper_bounds", "quantile_edges"]

SAMPLE_ROWS = 200_000
ZERO_THRESHOLD = 1e-35


def _up(a: float) -> float:
    return float(np.nextafter(a, math.inf))


def _equal_ordered(a: float, b: float) -> bool:
    return b <= _up(a)


@nb.njit(nogil=True, cache=True)
def _greedy_scan(values, counts, big, max_bin, mean_bin_size, rest_bin_cnt, rest_sample_cnt):
    """The scan of ``GreedyFindBin`` over many distinct values: bins' first / last values and count."""
    upper = np.full(max_bin, np.inf)
    lower = np.full(max_bin, np.inf)
    half = np.float64(np.float32(0.5))
    bin_cnt = 0
    lower[0] = values[0]
    cur = 0
    for i in range(values.shape[0] - 1):
        if big[i] == 0:
            rest_sample_cnt -= counts[i]
        cur += counts[i]
        if big[i] == 1 or cur >= mean_bin_size or (big[i + 1] == 1 and cur >= max(1.0, mean_bin_size * half)):
            upper[bin_cnt] = values[i]
            bin_cnt += 1
            lower[bin_cnt] = values[i + 1]
            if bin_cnt >= max_bin - 1:
                break
            cur = 0
            if big[i] == 0:
                rest_bin_cnt -= 1
                mean_bin_size = rest_sample_cnt / rest_bin_cnt if rest_bin_cnt > 0 else np.inf
    return upper, lower, bin_cnt


def greedy_upper_bounds(values: np.ndarray, counts: np.ndarray, max_bin: int, total: int,
                        min_data_in_bin: int = 1) -> list[float]:
    """Upper bounds (last one +inf) of at most ``max_bin`` bins over sorted distinct ``values``."""
    nd = int(values.shape[0])
    ub: list[float] = []
    if nd <= max_bin:
        cur = 0
        for i in range(nd - 1):
            cur += int(counts[i])
            if cur >= min_data_in_bin:
                val = _up((float(values[i]) + float(values[i + 1])) / 2.0)
                if not ub or not _equal_ordered(ub[-1], val):
                    ub.append(val)
                    cur = 0
        ub.append(math.inf)
        return ub
    if min_data_in_bin > 0:
        max_bin = max(min(max_bin, int(total // min_data_in_bin)), 1)
    mean_bin_size = total / max_bin
    rest_bin_cnt = max_bin
    rest_sample_cnt = int(total)
    big = counts >= mean_bin_size
    rest_bin_cnt -= int(big.sum())
    rest_sample_cnt -= int(counts[big].sum())
    mean_bin_size = rest_sample_cnt / rest_bin_cnt if rest_bin_cnt else math.inf
    upper, lower, bin_cnt = _greedy_scan(np.asarray(values, np.float64), np.asarray(counts, np.int64),
                                         big.astype(np.uint8), int(max_bin), float(mean_bin_size),
                                         int(rest_bin_cnt), int(rest_sample_cnt))
    bin_cnt += 1
    for i in range(bin_cnt - 1):
        val = _up((float(upper[i]) + float(lower[i + 1])) / 2.0)
        if not ub or not _equal_ordered(ub[-1], val):
            ub.append(val)
    ub.append(math.inf)
    return ub


def find_upper_bounds(values: np.ndarray, counts: np.ndarray, max_bin: int, total: int,
                      min_data_in_bin: int = 1) -> list[float]:
    """LightGBM's ``FindBinWithZeroAsOneBin``: negative values, a zero bin, positive values."""
    neg = values <= -ZERO_THRESHOLD
    pos = values > ZERO_THRESHOLD
    left_data = int(counts[neg].sum())
    right_data = int(counts[pos].sum())
    zero_cnt = int(counts[~neg & ~pos].sum())
    nd = int(values.shape[0])
    first_nonneg = np.flatnonzero(values > -ZERO_THRESHOLD)
    left_cnt = int(first_nonneg[0]) if first_nonneg.size else nd
    ub: list[float] = []
    if left_cnt > 0 and max_bin > 1:
        left_max = max(1, int(left_data / (total - zero_cnt) * (max_bin - 1)))
        ub = greedy_upper_bounds(values[:left_cnt], counts[:left_cnt], left_max, left_data, min_data_in_bin)
        if ub:
            ub[-1] = -ZERO_THRESHOLD
    rs = np.flatnonzero(values[left_cnt:] > ZERO_THRESHOLD)
    right_start = left_cnt + int(rs[0]) if rs.size else -1
    right_max = max_bin - 1 - len(ub)
    if right_start >= 0 and right_max > 0:
        rb = greedy_upper_bounds(values[right_start:], counts[right_start:], right_max, right_data, min_data_in_bin)
        ub.append(ZERO_THRESHOLD)
        ub.extend(rb)
    else:
        ub.append(math.inf)
    return ub


def quantile_edges(values: np.ndarray, counts: np.ndarray, na_count: int, nbins: int,
                   min_data_in_bin: int = 1) -> np.ndarray:
    """Interior edges (engine convention) from the sample's distinct finite ``values`` and ``counts``.

    ``na_count`` is the number of sampled rows missing this column: when positive, one of the
    ``nbins`` is kept for them (LightGBM's ``max_bin - 1``).
    """
    values = np.asarray(values, np.float64)
    counts = np.asarray(counts, np.int64)
    if values.size == 0:
        return np.zeros(0)
    total = int(counts.sum())
    # LightGBM stores exact zeros apart and re-inserts one zero value with their count
    max_bin = nbins - 1 if na_count > 0 else nbins
    ub = find_upper_bounds(values, counts, max(max_bin, 1), total, min_data_in_bin)
    fin = [u for u in ub if math.isfinite(u)]
    # drop bounds outside the data: they would only create empty codes
    edges = np.array([_up(u) for u in fin], np.float64)
    lo, hi = float(values[0]), float(values[-1])
    edges = edges[(edges > lo) & (edges <= hi)]
    return np.unique(edges)

"""Numba kernels of the rollups: per-chunk moments and histogram counts (arrays in, numbers out)."""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["chunk_moments", "chunk_moments_int", "constant_moments", "histogram_counts", "merge_moments"]


@numba.njit(nogil=True, cache=True)
def chunk_moments(x):
    """IN x float64[n] (NaN = missing).

    Returns ``(n_finite, mean, m2, fmin, fmax, n_na, n_zero, n_pinf, n_ninf)``: mean and M2 (sum of
    squared deviations) of the finite values by two passes; fmin/fmax over finite values (+inf/-inf
    when there are none).
    """
    n = 0
    total = 0.0
    fmin = np.inf
    fmax = -np.inf
    n_na = 0
    n_zero = 0
    n_pinf = 0
    n_ninf = 0
    for i in range(x.shape[0]):
        v = x[i]
        if v != v:
            n_na += 1
        elif v == np.inf:
            n_pinf += 1
        elif v == -np.inf:
            n_ninf += 1
        else:
            n += 1
            total += v
            if v == 0.0:
                n_zero += 1
            if v < fmin:
                fmin = v
            if v > fmax:
                fmax = v
    mean = total / n if n > 0 else 0.0
    m2 = 0.0
    if n > 1:
        for i in range(x.shape[0]):
            v = x[i]
            if v == v and abs(v) < np.inf:
                d = v - mean
                m2 += d * d
    return n, mean, m2, fmin, fmax, n_na, n_zero, n_pinf, n_ninf


@numba.njit(nogil=True, cache=True)
def histogram_counts(x, lo, width, nbins, counts):
    """IN x float64[n]; INOUT counts int64[nbins] += finite values binned over ``lo + k*width``.

    Values below the first bin go to bin 0, values at or past the last edge to the last bin.
    """
    for i in range(x.shape[0]):
        v = x[i]
        if v != v or abs(v) == np.inf:
            continue
        q = (v - lo) / width  # stays a float: an int conversion of an overflowed q is undefined
        if q >= nbins:
            k = nbins - 1
        elif q > 0.0:
            k = int(q)
        else:
            k = 0
        counts[k] += 1


def merge_moments(na, ma, m2a, nb, mb, m2b):
    """Chan et al.'s pairwise combination of (count, mean, M2), vectorised over columns."""
    na = np.asarray(na, dtype=np.float64)
    nb = np.asarray(nb, dtype=np.float64)
    n = na + nb
    safe = np.where(n > 0, n, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):  # extreme data gives inf; rollups report None
        delta = np.asarray(mb) - np.asarray(ma)
        mean = np.where(nb == 0, ma, np.where(na == 0, mb, ma + delta * (nb / safe)))
        m2 = np.where(nb == 0, m2a, np.where(na == 0, m2b, m2a + m2b + delta * delta * (na * nb / safe)))
    return mean, m2


@numba.njit(nogil=True, cache=True)
def chunk_moments_int(values, na):
    """IN values int64[n], na bool[n].

    Returns ``(n, mean, m2, imin, imax, n_zero)`` of the non-missing values (mean and M2 in
    float64 by two passes; imin/imax exact).
    """
    n = 0
    total = 0.0
    imin = np.iinfo(np.int64).max
    imax = np.iinfo(np.int64).min
    n_zero = 0
    for i in range(values.shape[0]):
        if na[i]:
            continue
        v = values[i]
        n += 1
        total += np.float64(v)
        if v == 0:
            n_zero += 1
        if v < imin:
            imin = v
        if v > imax:
            imax = v
    mean = total / n if n > 0 else 0.0
    m2 = 0.0
    if n > 1:
        for i in range(values.shape[0]):
            if not na[i]:
                d = np.float64(values[i]) - mean
                m2 += d * d
    return n, mean, m2, imin, imax, n_zero


@numba.njit(nogil=True, cache=True)
def constant_moments(vals, nrows, mean_out, m2_out):
    """IN vals float64[k], nrows int64[k]; OUT mean_out, m2_out float64[k].

    Mean and M2 of ``nrows[j]`` copies of ``vals[j]``, by the same two passes (the same float
    operations in the same order) as ``chunk_moments`` / ``chunk_moments_int`` on the decoded
    chunk, so a constant chunk gives the same bits without being decoded. NaN/inf or 0 rows: 0, 0.
    """
    for j in range(vals.shape[0]):
        v = vals[j]
        r = nrows[j]
        mean_out[j] = 0.0
        m2_out[j] = 0.0
        if v != v or abs(v) == np.inf or r <= 0:
            continue
        total = 0.0
        for _i in range(r):
            total += v
        mean = total / r
        m2 = 0.0
        if r > 1:
            for _i in range(r):
                d = v - mean
                m2 += d * d
        mean_out[j] = mean
        m2_out[j] = m2

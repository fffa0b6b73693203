"""Exact, mergeable sums of float64 values: the reason metrics do not depend on the chunk layout.

Technical note. The runtime reduces partials in a tree fixed by the chunk count, so a float sum
has the same bits on one node or three, but a frame cut into 1 chunk or 100 still sums in a
different order. Metrics use a *long accumulator* instead (Kulisch-style): every finite float64 is
``m * 2**(e - 1074)`` with an integer ``m < 2**53`` and ``0 <= e <= 2045``; its mantissa is added,
shifted, into 66 signed 32-bit limbs held in int64, so the sum is exact, and exact sums do not
depend on order. Limbs are kept in balanced form (``[-2**31, 2**31)`` after ``normalize``), so a
small sum, positive or negative, has few non-zero limbs and the partial sent over the wire keeps
only the used limb range. The one rounding happens at the end, in Python integer arithmetic
(``int / int`` is correctly rounded). Infinities and NaN are counted apart.

A set of ``k`` accumulators travels as a partial dict ``{"lo": int, "limbs": int64[k, m],
"special": int64[k, 3]}`` (limbs ``lo .. lo+m-1``; special = NaN, +inf, -inf counts).
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["NLIMB", "accumulate_rows", "accumulate_repeated", "pack", "unpack", "merge", "to_floats", "exact_sums",
           "exact_bincount"]

#: Limbs of 32 bits cover exponents 0..2045 plus a 53-bit mantissa plus carry room.
NLIMB = 66
_MASK = (1 << 32) - 1
_NORMALIZE_EVERY = 1 << 26


@nb.njit(nogil=True, cache=True)
def _normalize(acc):
    """INOUT acc int64[k, NLIMB]: carry so that every limb but the top one is in [-2**31, 2**31)."""
    k, nl = acc.shape
    half = np.int64(1) << 31
    for j in range(k):
        for i in range(nl - 1):
            c = (acc[j, i] + half) >> 32
            acc[j, i] -= c << 32
            acc[j, i + 1] += c


@nb.njit(nogil=True, cache=True)
def accumulate_indexed(values, index, acc, special):
    """Add ``values[i]`` exactly into accumulator ``index[i]`` (a weighted bincount).

    values : IN float64[n]
    index : IN int64[n], each in [0, k)
    acc : INOUT int64[k, NLIMB]
    special : INOUT int64[k, 3]
    """
    accumulate_rows_at(values.reshape(1, -1), index, acc, special)


@nb.njit(nogil=True, cache=True)
def accumulate_rows(terms, acc, special):
    """Add every value of ``terms`` row ``j`` exactly into accumulator ``j``.

    terms : IN float64[k, n]
    acc : INOUT int64[k, NLIMB]
    special : INOUT int64[k, 3]   counts of NaN, +inf, -inf
    """
    accumulate_rows_at(terms, np.empty(0, np.int64), acc, special)


@nb.njit(nogil=True, cache=True)
def accumulate_rows_at(terms, index, acc, special):
    """The one kernel: value ``terms[j, i]`` goes to accumulator ``j``, or to ``index[i]`` when
    ``index`` is not empty (then ``terms`` has one row)."""
    k, n = terms.shape
    indexed = index.size > 0
    bits = terms.view(np.int64)
    mask32 = np.int64(0xFFFFFFFF)
    mant_mask = (np.int64(1) << 52) - 1
    since = 0
    for i in range(n):
        for r in range(k):
            j = index[i] if indexed else r
            b = bits[r, i]
            ef = (b >> 52) & 0x7FF
            if ef == 0x7FF:
                if (b & mant_mask) != 0:
                    special[j, 0] += 1
                elif b < 0:
                    special[j, 2] += 1
                else:
                    special[j, 1] += 1
                continue
            m = b & mant_mask
            if ef > 0:
                m |= np.int64(1) << 52
            else:
                ef = 1
            if m == 0:
                continue
            e = ef - 1
            limb = e >> 5
            s = e & 31
            lo = (m & mask32) << s
            hi = (m >> 32) << s
            d0 = lo & mask32
            d1 = (lo >> 32) + (hi & mask32)
            d2 = hi >> 32
            if b < 0:
                acc[j, limb] -= d0
                acc[j, limb + 1] -= d1
                acc[j, limb + 2] -= d2
            else:
                acc[j, limb] += d0
                acc[j, limb + 1] += d1
                acc[j, limb + 2] += d2
        since += 1
        if since >= _NORMALIZE_EVERY:
            _normalize(acc)
            since = 0
    _normalize(acc)


@nb.njit(nogil=True, cache=True)
def accumulate_repeated(value, count, acc, special, j):
    """Add ``count`` (>= 0) copies of ``value`` exactly into accumulator ``j``: the same
    exact sum as :func:`accumulate_rows` of ``count`` equal values (INOUT acc, special)."""
    if count <= 0:
        return
    b = np.array([value]).view(np.int64)[0]
    ef = (b >> 52) & 0x7FF
    mant_mask = (np.int64(1) << 52) - 1
    if ef == 0x7FF:
        if (b & mant_mask) != 0:
            special[j, 0] += count
        elif b < 0:
            special[j, 2] += count
        else:
            special[j, 1] += count
        return
    m = b & mant_mask
    if ef > 0:
        m |= np.int64(1) << 52
    else:
        ef = 1
    if m == 0:
        return
    e = ef - 1
    limb = e >> 5
    s = e & 31
    mask32 = np.int64(0xFFFFFFFF)
    lo = (m & mask32) << s
    hi = (m >> 32) << s
    d0 = lo & mask32
    d1 = (lo >> 32) + (hi & mask32)
    d2 = hi >> 32
    sign = np.int64(-1) if b < 0 else np.int64(1)
    left = np.int64(count)
    while left > 0:                   # d0, d1 < 2**33: 2**28 copies at a time stay below 2**61
        c = min(left, np.int64(1) << 28)
        acc[j, limb] += sign * c * d0
        acc[j, limb + 1] += sign * c * d1
        acc[j, limb + 2] += sign * c * d2
        _normalize(acc)
        left -= c


def exact_sums(terms: np.ndarray) -> dict:
    """The packed exact sums of each row of ``terms`` (float64[k, n], or [n] for one sum)."""
    t = np.ascontiguousarray(terms, dtype=np.float64)
    if t.ndim == 1:
        t = t.reshape(1, -1)
    acc = np.zeros((t.shape[0], NLIMB), np.int64)
    special = np.zeros((t.shape[0], 3), np.int64)
    if t.shape[1]:
        accumulate_rows(t, acc, special)
    return pack(acc, special)


def exact_bincount(values: np.ndarray, index: np.ndarray, k: int) -> dict:
    """The packed exact sums ``out[j] = Σ values[index == j]`` for ``j < k``."""
    v = np.ascontiguousarray(values, dtype=np.float64)
    acc = np.zeros((k, NLIMB), np.int64)
    special = np.zeros((k, 3), np.int64)
    if v.size:
        accumulate_indexed(v, np.ascontiguousarray(index, dtype=np.int64), acc, special)
    return pack(acc, special)


def pack(acc: np.ndarray, special: np.ndarray) -> dict:
    """Keep only the used limb range of normalized accumulators (wire form)."""
    used = np.flatnonzero(np.any(acc != 0, axis=0))
    if used.size == 0:
        return {"lo": 0, "limbs": np.zeros((acc.shape[0], 0), np.int64), "special": special}
    lo, hi = int(used[0]), int(used[-1]) + 1
    return {"lo": lo, "limbs": np.ascontiguousarray(acc[:, lo:hi]), "special": special}


def unpack(p: dict) -> tuple[np.ndarray, np.ndarray]:
    """Full ``(acc int64[k, NLIMB], special int64[k, 3])`` from a packed partial."""
    limbs = np.asarray(p["limbs"], dtype=np.int64)
    special = np.array(p["special"], dtype=np.int64).reshape(limbs.shape[0], 3)
    acc = np.zeros((limbs.shape[0], NLIMB), np.int64)
    lo = int(p["lo"])
    acc[:, lo:lo + limbs.shape[1]] = limbs
    return acc, special


def merge(a: dict, b: dict) -> dict:
    """The packed exact sum of two packed partials (same number of accumulators)."""
    acc_a, sp_a = unpack(a)
    acc_b, sp_b = unpack(b)
    if acc_a.shape != acc_b.shape:
        raise ValueError(f"cannot merge {acc_a.shape[0]} exact sums with {acc_b.shape[0]}")
    acc = acc_a + acc_b
    _normalize(acc)
    return pack(acc, sp_a + sp_b)


_SCALE = 1 << 1074


def to_floats(p: dict) -> np.ndarray:
    """Round each exact sum once to the nearest float64 (NaN / inf when such values were added)."""
    acc, special = unpack(p)
    out = np.empty(acc.shape[0], np.float64)
    for j in range(acc.shape[0]):
        nan, pinf, ninf = (int(x) for x in special[j])
        if nan or (pinf and ninf):
            out[j] = math.nan
            continue
        if pinf or ninf:
            out[j] = math.inf if pinf else -math.inf
            continue
        total = 0
        for i in range(NLIMB - 1, -1, -1):
            total = (total << 32) + int(acc[j, i])
        try:
            out[j] = total / _SCALE
        except OverflowError:
            out[j] = math.inf if total > 0 else -math.inf
    return out

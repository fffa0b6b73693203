"""Stable multi-key row order by LSD radix sort (``sort``, ``rank_within_group_by``).

Each float64 key is mapped to a uint64 whose unsigned order is the key's order (sign bit flipped
for positive numbers, all bits flipped for negative ones, ``-0.0`` made ``+0.0``, NaN the largest
value so missing values come last; descending keys flip every bit of the non-missing values, so
missing values still come last). The keys are then sorted least significant first, 11 bits per
pass, skipping the passes whose digit is the same in every row (small integer keys need only a
few). Every pass is a stable counting sort, so the result equals ``numpy.lexsort`` of the keys
(first key primary) exactly, ties in input order — in O(n) per pass instead of O(n log n) per key.
"""
from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["radix_order"]

_BITS = 11
_RADIX = 1 << _BITS
_NAN_KEY = np.uint64(0xFFFFFFFFFFFFFFFF)


@nb.njit(cache=True, nogil=True)
def _ordered_bits(x: np.ndarray, ascending: bool) -> np.ndarray:
    """uint64 keys whose unsigned order is ``x``'s (``ascending``) order, NaN the largest."""
    n = x.shape[0]
    out = np.empty(n, np.uint64)
    bits = x.view(np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    for i in range(n):
        v = x[i]
        if v != v:
            out[i] = np.uint64(0xFFFFFFFFFFFFFFFF)
            continue
        b = np.uint64(0) if v == 0.0 else bits[i]
        k = ~b if (b & sign) else (b | sign)
        out[i] = k if ascending else ~k
    return out


@nb.njit(cache=True, nogil=True)
def _varying_digits(k: np.ndarray) -> np.ndarray:
    """Which 11-bit digits (least significant first) are not the same in every key."""
    n = k.shape[0]
    ndig = (64 + _BITS - 1) // _BITS
    out = np.zeros(ndig, np.bool_)
    if n == 0:
        return out
    a = k[0]
    o = k[0]
    for i in range(1, n):
        a &= k[i]
        o |= k[i]
    diff = a ^ o
    mask = np.uint64(_RADIX - 1)
    for d in range(ndig):
        out[d] = ((diff >> np.uint64(d * _BITS)) & mask) != 0
    return out


@nb.njit(cache=True, nogil=True)
def _sort_by_key(order: np.ndarray, key: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """Stable-sort ``order`` by ``key[order]`` with one counting pass per varying digit."""
    n = order.shape[0]
    kk = np.empty(n, np.uint64)
    for i in range(n):
        kk[i] = key[order[i]]
    k2 = np.empty(n, np.uint64)
    o2 = np.empty(n, np.int64)
    counts = np.empty(_RADIX, np.int64)
    mask = np.uint64(_RADIX - 1)
    for d in range(digits.shape[0]):
        if not digits[d]:
            continue
        shift = np.uint64(d * _BITS)
        counts[:] = 0
        for i in range(n):
            counts[(kk[i] >> shift) & mask] += 1
        total = 0
        for j in range(_RADIX):
            c = counts[j]
            counts[j] = total
            total += c
        for i in range(n):
            dj = (kk[i] >> shift) & mask
            p = counts[dj]
            counts[dj] = p + 1
            k2[p] = kk[i]
            o2[p] = order[i]
        kk, k2 = k2, kk
        order, o2 = o2, order
    return order


@nb.njit(cache=True, nogil=True)
def _gather(key: np.ndarray, order: np.ndarray, out: np.ndarray, lo: int, hi: int) -> None:
    for i in range(lo, hi):
        out[i] = key[order[i]]


@nb.njit(cache=True, nogil=True)
def _count_block(kk: np.ndarray, lo: int, hi: int, shift: int, counts: np.ndarray) -> None:
    """OUT ``counts`` int64[_RADIX]: how many of ``kk[lo:hi]`` have each digit at ``shift``."""
    mask = np.uint64(_RADIX - 1)
    sh = np.uint64(shift)
    counts[:] = 0
    for i in range(lo, hi):
        counts[(kk[i] >> sh) & mask] += 1


@nb.njit(cache=True, nogil=True)
def _scatter_block(kk: np.ndarray, order: np.ndarray, lo: int, hi: int, shift: int, offsets: np.ndarray,
                   k2: np.ndarray, o2: np.ndarray) -> None:
    """Move rows ``lo:hi`` to their digit's next slot (``offsets``: this block's first slot per digit)."""
    mask = np.uint64(_RADIX - 1)
    sh = np.uint64(shift)
    for i in range(lo, hi):
        d = (kk[i] >> sh) & mask
        p = offsets[d]
        offsets[d] = p + 1
        k2[p] = kk[i]
        o2[p] = order[i]


#: Rows from which the passes run as two blocks on two threads (counts per block, then each block
#: scatters its rows to its own slots: still a stable counting sort, the same order).
_PARALLEL_MIN_ROWS = 1_000_000
_POOL = None


def _pool():
    global _POOL
    if _POOL is None:
        import concurrent.futures as cf
        _POOL = cf.ThreadPoolExecutor(2, thread_name_prefix="shoal-radix")
    return _POOL


def _sort_by_key_blocks(order: np.ndarray, key: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """:func:`_sort_by_key` with each pass split into two row blocks run on two threads."""
    n = order.shape[0]
    bounds = [(0, n // 2), (n // 2, n)]
    pool = _pool()
    kk = np.empty(n, np.uint64)
    list(pool.map(lambda b: _gather(key, order, kk, b[0], b[1]), bounds))
    k2 = np.empty(n, np.uint64)
    o2 = np.empty(n, np.int64)
    counts = np.zeros((2, _RADIX), np.int64)
    for d in range(digits.shape[0]):
        if not digits[d]:
            continue
        shift = d * _BITS
        list(pool.map(lambda j: _count_block(kk, bounds[j][0], bounds[j][1], shift, counts[j]), (0, 1)))
        # block 0's rows of a digit come before block 1's (stable)
        flat = counts.T.reshape(-1)
        starts = np.concatenate([[0], np.cumsum(flat)[:-1]]).reshape(_RADIX, 2).T.copy()
        list(pool.map(lambda j: _scatter_block(kk, order, bounds[j][0], bounds[j][1], shift, starts[j], k2, o2),
                      (0, 1)))
        kk, k2 = k2, kk
        order, o2 = o2, order
    return order


def radix_order(keys: list[np.ndarray], ascending: list[bool]) -> np.ndarray:
    """Stable int64 row order by ``keys`` (float64, NaN missing; the first key primary), each
    ascending or descending, missing values last in either direction."""
    n = len(keys[0]) if keys else 0
    order = np.arange(n, dtype=np.int64)
    for key, asc in zip(reversed(keys), reversed(ascending)):
        k = _ordered_bits(np.ascontiguousarray(key, dtype=np.float64), bool(asc))
        digits = _varying_digits(k)
        if digits.any():
            order = (_sort_by_key_blocks if n >= _PARALLEL_MIN_ROWS else _sort_by_key)(order, k, digits)
    return order

"""Numba kernels of the munging engine: only jitted functions on arrays (no frames, no I/O).

Conventions: numeric values are float64 with NaN for missing (bool results are 0.0/1.0/NaN).
Arguments are documented IN / OUT with dtype; every kernel is compiled ``nogil=True, cache=True``
so the compute pool runs them in parallel.
"""
from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["compare_values", "kleene_and", "kleene_or", "ifelse_values", "strings_equal_literal",
           "strings_equal", "take_strings", "signif_values", "cumulate", "CMP_CODES", "CUM_CODES", "warm_up",
           "group_rows", "group_moments", "group_order_stats", "group_sort_values"]

_JIT = dict(nogil=True, cache=True)

#: Comparison op -> kernel code.
CMP_CODES = {"eq": 0, "ne": 1, "lt": 2, "le": 3, "gt": 4, "ge": 5}
#: Cumulative op -> kernel code.
CUM_CODES = {"cumsum": 0, "cumprod": 1, "cummin": 2, "cummax": 3}


@nb.njit(**_JIT)
def compare_values(a, b, code, out):
    """IN a, b float64[n]; IN code int (CMP_CODES); OUT out float64[n]: 1/0, NaN where either is NaN."""
    for i in range(a.shape[0]):
        x = a[i]
        y = b[i]
        if np.isnan(x) or np.isnan(y):
            out[i] = np.nan
        elif code == 0:
            out[i] = 1.0 if x == y else 0.0
        elif code == 1:
            out[i] = 1.0 if x != y else 0.0
        elif code == 2:
            out[i] = 1.0 if x < y else 0.0
        elif code == 3:
            out[i] = 1.0 if x <= y else 0.0
        elif code == 4:
            out[i] = 1.0 if x > y else 0.0
        else:
            out[i] = 1.0 if x >= y else 0.0
    return 0


@nb.njit(**_JIT)
def kleene_and(a, b, out):
    """IN a, b float64[n] (0 false, nonzero true, NaN missing); OUT out: Kleene AND."""
    for i in range(a.shape[0]):
        x = a[i]
        y = b[i]
        if x == 0.0 or y == 0.0:
            out[i] = 0.0
        elif np.isnan(x) or np.isnan(y):
            out[i] = np.nan
        else:
            out[i] = 1.0
    return 0


@nb.njit(**_JIT)
def kleene_or(a, b, out):
    """IN a, b float64[n]; OUT out: Kleene OR (true wins over missing)."""
    for i in range(a.shape[0]):
        x = a[i]
        y = b[i]
        if (x != 0.0 and not np.isnan(x)) or (y != 0.0 and not np.isnan(y)):
            out[i] = 1.0
        elif np.isnan(x) or np.isnan(y):
            out[i] = np.nan
        else:
            out[i] = 0.0
    return 0


@nb.njit(**_JIT)
def ifelse_values(t, yes, no, out):
    """IN t, yes, no float64[n]; OUT out: yes where t true, no where false, NaN where t missing."""
    for i in range(t.shape[0]):
        x = t[i]
        if np.isnan(x):
            out[i] = np.nan
        elif x != 0.0:
            out[i] = yes[i]
        else:
            out[i] = no[i]
    return 0


@nb.njit(**_JIT)
def strings_equal_literal(offsets, data, na, lit, out):
    """IN offsets int64[n+1], data uint8[], na bool[n], lit uint8[k]; OUT out float64[n] 1/0/NaN."""
    k = lit.shape[0]
    for i in range(na.shape[0]):
        if na[i]:
            out[i] = np.nan
            continue
        a = offsets[i]
        b = offsets[i + 1]
        if b - a != k:
            out[i] = 0.0
            continue
        eq = 1.0
        for j in range(k):
            if data[a + j] != lit[j]:
                eq = 0.0
                break
        out[i] = eq
    return 0


@nb.njit(**_JIT)
def strings_equal(o1, d1, na1, o2, d2, na2, out):
    """IN two string columns (offsets, data, na) of n rows; OUT out float64[n] 1/0/NaN."""
    for i in range(na1.shape[0]):
        if na1[i] or na2[i]:
            out[i] = np.nan
            continue
        a1 = o1[i]
        n1 = o1[i + 1] - a1
        a2 = o2[i]
        if o2[i + 1] - a2 != n1:
            out[i] = 0.0
            continue
        eq = 1.0
        for j in range(n1):
            if d1[a1 + j] != d2[a2 + j]:
                eq = 0.0
                break
        out[i] = eq
    return 0


@nb.njit(**_JIT)
def take_strings(offsets, data, idx):
    """IN offsets int64[n+1], data uint8[], idx int64[m] (rows to take, any order, repeats allowed).

    Returns (new_offsets int64[m+1], new_data uint8[]).
    """
    m = idx.shape[0]
    new_off = np.empty(m + 1, np.int64)
    new_off[0] = 0
    for j in range(m):
        r = idx[j]
        new_off[j + 1] = new_off[j] + (offsets[r + 1] - offsets[r])
    new_data = np.empty(new_off[m], np.uint8)
    for j in range(m):
        r = idx[j]
        a = offsets[r]
        p = new_off[j]
        for q in range(offsets[r + 1] - a):
            new_data[p + q] = data[a + q]
    return new_off, new_data


@nb.njit(**_JIT)
def signif_values(x, digits, out):
    """IN x float64[n], digits int >= 1; OUT out: x rounded to ``digits`` significant digits (half even)."""
    for i in range(x.shape[0]):
        v = x[i]
        if np.isnan(v) or np.isinf(v) or v == 0.0:
            out[i] = v
            continue
        mag = np.floor(np.log10(np.abs(v)))
        p = digits - 1 - mag
        if p >= 0:
            f = 10.0 ** p
            out[i] = np.round(v * f) / f
        else:
            f = 10.0 ** (-p)
            out[i] = np.round(v / f) * f
    return 0


@nb.njit(**_JIT)
def cumulate(x, code, start, out):
    """IN x float64[n], code (CUM_CODES), start float64 (carry from earlier chunks; NaN = none yet).

    OUT out float64[n]: the running sum/product/min/max; missing values stay missing and are skipped
    (pandas' ``skipna``). Returns the carry after the last row.
    """
    acc = start
    for i in range(x.shape[0]):
        v = x[i]
        if np.isnan(v):
            out[i] = np.nan
            continue
        if np.isnan(acc):
            acc = v
        elif code == 0:
            acc = acc + v
        elif code == 1:
            acc = acc * v
        elif code == 2:
            acc = min(acc, v)
        else:
            acc = max(acc, v)
        out[i] = acc
    return acc


def warm_up() -> None:
    """Compile (or load from the cache) every kernel once, e.g. at node start-up."""
    a = np.array([1.0, np.nan, 0.0])
    out = np.empty(3)
    compare_values(a, a, 0, out)
    kleene_and(a, a, out)
    kleene_or(a, a, out)
    ifelse_values(a, a, a, out)
    signif_values(a, 2, out)
    cumulate(a, 0, np.nan, out)
    off = np.array([0, 1, 1, 3], np.int64)
    data = np.frombuffer(b"abc", np.uint8).copy()
    na = np.zeros(3, np.bool_)
    strings_equal_literal(off, data, na, data[:1], out)
    strings_equal(off, data, na, off, data, na, out)
    take_strings(off, data, np.array([2, 0], np.int64))
    gid = np.empty(3, np.int64)
    ng = len(group_rows(np.vstack([a, a]), gid))
    st = [np.empty(ng, np.int64), np.empty(ng, np.int64)] + [np.empty(ng) for _ in range(5)]
    group_moments(gid, ng, a, *st)
    group_order_stats(np.sort(a), np.array([0, 1, 2, 3], np.int64), np.array([0, 1, 0], np.int64), 0, 1, out)
    group_sort_values(gid, ng, a)


# ============================================================================================ group_by
@nb.njit(**_JIT)
def _mix64(h):
    """murmur3's 64-bit finalizer: spreads every input bit over the output (float bits of small
    integers differ only in their high bits)."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


_NAN_BITS = np.int64(0x7FF8000000000001)


def key_bits(keys: np.ndarray) -> np.ndarray:
    """int64 bit patterns of float64 keys, with every NaN one value and -0.0 equal to 0.0."""
    keys = np.ascontiguousarray(keys, dtype=np.float64) + 0.0  # + 0.0 folds -0.0 into 0.0
    bits = keys.view(np.int64).copy()
    bits[np.isnan(keys)] = _NAN_BITS
    return bits


def group_rows(keys: np.ndarray, gid: np.ndarray) -> np.ndarray:
    """Dense group ids by key tuple, in order of first appearance.

    IN keys float64[nk, n] (NaN = missing: a key value of its own); OUT gid int64[n].
    Returns firsts int64[ng]: the first row of each group.
    """
    return _group_rows_bits(key_bits(keys), gid)


@nb.njit(**_JIT)
def _group_rows_bits(bits, gid):
    """IN bits int64[nk, n] (see ``key_bits``); OUT gid int64[n]; returns firsts int64[ng].

    Open addressing; each slot keeps the full hash so keys are compared only on a hash match.
    """
    nk, n = bits.shape
    size = 16
    while size < 2 * n:
        size *= 2
    mask = size - 1
    slot_gid = np.full(size, -1, np.int64)
    slot_hash = np.zeros(size, np.uint64)
    firsts = np.empty(n, np.int64)
    ng = 0
    for i in range(n):
        h = np.uint64(0x9E3779B97F4A7C15)
        for k in range(nk):
            h = _mix64(h ^ np.uint64(bits[k, i]))
        slot = np.int64(h >> np.uint64(11)) & mask
        while True:
            g = slot_gid[slot]
            if g < 0:
                slot_gid[slot] = ng
                slot_hash[slot] = h
                firsts[ng] = i
                gid[i] = ng
                ng += 1
                break
            if slot_hash[slot] == h:
                r = firsts[g]
                same = True
                for k in range(nk):
                    if bits[k, r] != bits[k, i]:
                        same = False
                        break
                if same:
                    gid[i] = g
                    break
            slot = (slot + 1) & mask
    return firsts[:ng].copy()


@nb.njit(**_JIT)
def group_moments(gid, ng, x, n, nas, s, mean, m2, mn, mx):
    """Per-group statistics of one value column (two passes for a stable M2).

    IN gid int64[rows], x float64[rows] (NaN missing); OUT (length ng) n/nas int64, s/mean/m2/mn/mx
    float64 (mn/mx are +inf/-inf for a group without present values).
    """
    for g in range(ng):
        n[g] = 0
        nas[g] = 0
        s[g] = 0.0
        m2[g] = 0.0
        mn[g] = np.inf
        mx[g] = -np.inf
    for i in range(gid.shape[0]):
        g = gid[i]
        v = x[i]
        if np.isnan(v):
            nas[g] += 1
            continue
        n[g] += 1
        s[g] += v
        if v < mn[g]:
            mn[g] = v
        if v > mx[g]:
            mx[g] = v
    for g in range(ng):
        mean[g] = s[g] / n[g] if n[g] > 0 else 0.0
    for i in range(gid.shape[0]):
        v = x[i]
        if not np.isnan(v):
            d = v - mean[gid[i]]
            m2[gid[i]] += d * d
    return 0


@nb.njit(**_JIT)
def group_order_stats(sorted_vals, bounds, nas, what, na_mode, out):
    """Median (what=0) or mode (what=1) per group from values sorted by (group, value), NaN last.

    IN sorted_vals float64[m]; bounds int64[ng+1] (group g is sorted_vals[bounds[g]:bounds[g+1]]);
    nas int64[ng] missing count per group; na_mode 0=all 1=rm 2=ignore; OUT out float64[ng].
    """
    for g in range(bounds.shape[0] - 1):
        a = bounds[g]
        tot = bounds[g + 1] - a
        k = tot - nas[g]  # present values: sorted_vals[a:a+k]
        if (na_mode == 0 and nas[g] > 0) or k == 0:
            out[g] = np.nan
            continue
        if what == 1:
            best = sorted_vals[a]
            best_run = 0
            run = 0
            for j in range(k):
                if j > 0 and sorted_vals[a + j] == sorted_vals[a + j - 1]:
                    run += 1
                else:
                    run = 1
                if run > best_run:
                    best_run = run
                    best = sorted_vals[a + j]
            out[g] = best
            continue
        if na_mode == 2:  # missing values sort first and count (H2O's "ignore")
            m = tot
            lo = (m - 1) // 2
            hi = m // 2
            lo_v = np.nan if lo < nas[g] else sorted_vals[a + lo - nas[g]]
            hi_v = np.nan if hi < nas[g] else sorted_vals[a + hi - nas[g]]
            out[g] = (lo_v + hi_v) / 2
        else:
            out[g] = (sorted_vals[a + (k - 1) // 2] + sorted_vals[a + k // 2]) / 2
    return 0


@nb.njit(**_JIT)
def group_sort_values(gid, ng, x):
    """Values arranged by group (counting sort), each group's values sorted with NaN last.

    IN gid int64[n], x float64[n]. Returns (vals float64[n], bounds int64[ng+1]).
    """
    bounds = np.zeros(ng + 1, np.int64)
    for i in range(gid.shape[0]):
        bounds[gid[i] + 1] += 1
    for g in range(ng):
        bounds[g + 1] += bounds[g]
    pos = bounds[:-1].copy()
    vals = np.empty(gid.shape[0], np.float64)
    for i in range(gid.shape[0]):
        g = gid[i]
        vals[pos[g]] = x[i]
        pos[g] += 1
    for g in range(ng):
        seg = vals[bounds[g]:bounds[g + 1]]
        seg[:] = np.sort(seg)
    return vals, bounds

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
           "group_rows", "group_moments", "group_order_stats", "group_sort_values", "key_range", "composite_keys",
           "dense_groups", "group_stats", "join_pairs", "kway_merge_groups", "dense_tree_merge",
           "decode_key_column", "source_key_range", "source_key_codes", "group_row_counts",
           "source_group_stats", "SRC_INT", "SRC_SCALED", "SRC_FLOAT",
           "bin_counts", "bin_members", "decode_keys"]

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
    r = np.array([np.inf, -np.inf, 0.0, 0.0])
    key_range(a, r)
    codes = np.empty(3, np.int64)
    composite_keys(np.vstack([a, a]), np.zeros(2), np.array([3, 3], np.int64), codes)
    g2 = np.empty(3, np.int64)
    u = dense_groups(codes, 9, g2)
    lay = np.array([[0, 1, 2, 3, 4]], np.int64)
    ist = np.empty((3, len(u)), np.int64)
    fst = np.empty((5, len(u)), np.float64)
    group_stats(g2, len(u), a.reshape(1, -1), lay, ist, fst)
    allc = np.concatenate([u, u])
    kway_merge_groups(allc, np.array([0, len(u)], np.int64), np.array([len(u), 2 * len(u)], np.int64),
                      np.arange(2, dtype=np.int64), np.concatenate([ist, ist], axis=1),
                      np.concatenate([fst, fst], axis=1), lay, np.empty(len(allc), np.int64),
                      np.empty((3, len(allc)), np.int64), np.empty((5, len(allc))))
    wi, wf = np.zeros((3, 9), np.int64), np.zeros((5, 9))
    dense_tree_merge(nb.typed.List([u, u]), nb.typed.List([ist, ist]), nb.typed.List([fst, fst]), lay, 0, 9, 4,
                     wi, wf)
    decode_keys(u, np.zeros(2), np.array([3, 3], np.int64), np.empty((2, len(u))))
    for out_k, miss in ((np.empty(len(u), np.int64), 0), (np.empty(len(u), np.int32), -1)):
        decode_key_column(u.copy(), 3, 0, miss, out_k, np.empty(len(u), np.bool_))
    join_pairs(np.array([0, -1, 1], np.int64), np.array([1, 0, -1], np.int64), 2, True, True)
    # group_by straight from encoded chunks: every buffer dtype of the codecs read directly, writable
    # and read-only (chunks received from another node), codes int32 (direct) and int64
    g3 = np.array([0, 1, 0], np.int32)
    rows = np.zeros(2, np.int64)
    lay1 = np.array([0, 1, 2, 3, 4], np.int64)
    for dt in (np.uint8, np.uint16, np.uint32, np.int32, np.float64):
        for writeable in (True, False):
            q = np.array([0, 1, 2], dt)
            q.flags.writeable = writeable
            mode = SRC_FLOAT if dt == np.float64 else SRC_INT
            source_key_range(q, mode, 0, 1.0, 255, np.array([np.inf, -np.inf, 0.0, 0.0]))
            for out_k in (np.empty(3, np.int32), np.empty(3, np.int64)):
                source_key_codes(q, mode, 0, 1.0, 255, 0.0, 4, True, out_k, rows[:0])
            source_key_codes(q, mode, 0, 1.0, 255, 0.0, 4, False, g3.copy(), np.zeros(16, np.int64))
            ist1, fst1 = np.zeros((3, 2), np.int64), np.zeros((5, 2))
            ist1[0] = (2, 1)
            source_group_stats(g3, 2, q, mode, 0, 1.0, 255, lay1, 0, ist1, fst1)
    group_row_counts(g3, 2, rows)
    cnt = np.zeros(4, np.int64)
    bin_counts(a, 0.0, 1.0, -np.inf, np.inf, 4, cnt)
    bin_members(a, 0.0, 1.0, -np.inf, np.inf, 4, np.ones(4, np.bool_))


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


# ============================================================================ group_by on int64 codes
@nb.njit(**_JIT)
def key_range(x, out):
    """IN x float64[n]; OUT out float64[4] updated in place: [min, max, missing count, non-integral
    count] of the present values (±inf and values beyond 2**53 count as non-integral)."""
    lo = out[0]
    hi = out[1]
    nas = 0
    bad = 0
    for i in range(x.shape[0]):
        v = x[i]
        if np.isnan(v):
            nas += 1
            continue
        if not (abs(v) < 9007199254740992.0) or v != np.floor(v):
            bad += 1
            continue
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    out[0] = lo
    out[1] = hi
    out[2] += nas
    out[3] += bad
    return 0


@nb.njit(**_JIT)
def composite_keys(keys, los, radix, out):
    """One int64 code per row for a key tuple: key 0 most significant, so code order is key order.

    IN keys float64[nk, n] (integral values, NaN missing); los float64[nk] (each key's minimum);
    radix int64[nk] (each key's value count + 1: the last code is the missing one); OUT out int64[n].
    """
    nk, n = keys.shape
    for i in range(n):
        c = np.int64(0)
        for q in range(nk):
            v = keys[q, i]
            code = radix[q] - 1 if np.isnan(v) else np.int64(v - los[q])
            c = c * radix[q] + code
        out[i] = c
    return 0


@nb.njit(**_JIT)
def dense_groups(codes, span, gid):
    """Groups of ``codes`` (int64[n], each in [0, span)) by direct addressing: group ids in code order.

    OUT gid int64[n]. Returns the distinct codes, ascending (int64[ng]).
    """
    slot = np.full(span, -1, np.int64)
    for i in range(codes.shape[0]):
        slot[codes[i]] = 0
    ng = 0
    for r in range(span):
        if slot[r] == 0:
            slot[r] = ng
            ng += 1
    u = np.empty(ng, np.int64)
    for r in range(span):
        if slot[r] >= 0:
            u[slot[r]] = r
    for i in range(codes.shape[0]):
        gid[i] = slot[codes[i]]
    return u


@nb.njit(**_JIT)
def group_stats(gid, ng, xs, lay, ist, fst):
    """Per-group row count and, per value column j, (n, missing) in ``ist[1+2j], ist[2+2j]`` and the
    float statistics that ``lay[j]`` asks for: ``lay[j, s]`` is the row of ``fst`` that holds
    statistic s of (sum, mean, M2, min, max) (as ``group_moments``), or -1 when not kept. Only the
    asked-for statistics are computed: min/max only with ``lay[j, 3] >= 0``, the second pass over
    the rows (mean, M2) only with ``lay[j, 2] >= 0``.

    IN gid int64[n], xs float64[nv, n], lay int64[nv, 5]; OUT ist int64[1+2nv, >=ng],
    fst float64[nf, >=ng] (columns ng.. untouched).
    """
    nrows = gid.shape[0]
    for g in range(ng):
        ist[0, g] = 0
    for i in range(nrows):
        ist[0, gid[i]] += 1
    for j in range(xs.shape[0]):
        x = xs[j]
        n = ist[1 + 2 * j]
        nas = ist[2 + 2 * j]
        s = fst[lay[j, 0]]
        for g in range(ng):
            n[g] = 0
            nas[g] = 0
            s[g] = 0.0
        rmin = lay[j, 3]
        rmax = lay[j, 4]
        if rmin >= 0:
            mn = fst[rmin]
            mx = fst[rmax]
            for g in range(ng):
                mn[g] = np.inf
                mx[g] = -np.inf
            for i in range(nrows):
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
        else:
            for i in range(nrows):
                g = gid[i]
                v = x[i]
                if np.isnan(v):
                    nas[g] += 1
                    continue
                n[g] += 1
                s[g] += v
        rm2 = lay[j, 2]
        if rm2 >= 0:
            mean = fst[lay[j, 1]]
            m2 = fst[rm2]
            for g in range(ng):
                mean[g] = s[g] / n[g] if n[g] > 0 else 0.0
                m2[g] = 0.0
            for i in range(nrows):
                v = x[i]
                if not np.isnan(v):
                    d = v - mean[gid[i]]
                    m2[gid[i]] += d * d
    return 0


# ------------------------------------------------------------ group_by straight from the encoded chunks
#: ``mode`` of an encoded source (``group_by._source``): 0 integers ``int64(q) + bias`` (biased_int,
#: categorical codes), 1 scaled decimals ``float64(int64(q) + bias) / p``, 2 float64 values as they are.
SRC_INT, SRC_SCALED, SRC_FLOAT = 0, 1, 2


@nb.njit(**_JIT)
def _source_value(q, i, mode, bias, p, sentinel):
    """Row ``i`` of an encoded source as float64, NaN for missing, bit for bit what
    ``codecs.decode_float64`` gives: modes ``SRC_INT`` / ``SRC_SCALED`` treat ``q[i] == sentinel``
    as missing; ``SRC_FLOAT`` reads ``q`` as it is (NaN missing)."""
    v = q[i]
    if mode == 2:
        return np.float64(v)
    if v == sentinel:
        return np.nan
    if mode == 1:
        return np.float64(np.int64(v) + bias) / p
    return np.float64(np.int64(v) + bias)


@nb.njit(**_JIT)
def source_key_range(q, mode, bias, p, sentinel, out):
    """``key_range`` of an encoded source (see ``_source_value``), without decoding it first.
    IN q int/float[n]; OUT out float64[4] updated in place: [min, max, missing, non-integral]."""
    lo = out[0]
    hi = out[1]
    nas = 0
    bad = 0
    for i in range(q.shape[0]):
        v = _source_value(q, i, mode, bias, p, sentinel)
        if np.isnan(v):
            nas += 1
            continue
        if not (abs(v) < 9007199254740992.0) or v != np.floor(v):
            bad += 1
            continue
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    out[0] = lo
    out[1] = hi
    out[2] += nas
    out[3] += bad
    return 0


@nb.njit(**_JIT)
def source_key_codes(q, mode, bias, p, sentinel, lo, radix, first, out, rows):
    """Fold one key of an encoded source (see ``_source_value``) into the rows' codes, as
    ``composite_keys`` does one key at a time: ``out[i] = out[i] * radix + c`` (``out[i] = c`` when
    ``first``), c the key's code: ``value - lo`` (``SRC_INT``: ``int64(q[i]) + bias - lo`` in
    integers), ``radix - 1`` for a missing value. IN q int/float[n], lo float64 (the key's minimum,
    integral); IN/OUT out int[n] (any integer dtype that holds the final codes). When ``rows`` is
    not empty (the last key, codes used as group ids) it counts the rows per code: OUT rows int64[span]."""
    miss = radix - 1
    off = bias - np.int64(lo)
    count = rows.shape[0] > 0
    for g in range(rows.shape[0]):
        rows[g] = 0
    for i in range(q.shape[0]):
        if mode == 0:
            v = q[i]
            c = miss if v == sentinel else np.int64(v) + off
        else:
            x = _source_value(q, i, mode, bias, p, sentinel)
            c = miss if np.isnan(x) else np.int64(x - lo)
        if not first:
            c += np.int64(out[i]) * radix
        out[i] = c
        if count:
            rows[c] += 1
    return 0


@nb.njit(**_JIT)
def group_row_counts(gid, ng, rows):
    """IN gid int[n] (each in [0, ng)); OUT rows int64[>=ng]: rows per group (columns ng.. untouched)."""
    for g in range(ng):
        rows[g] = 0
    for i in range(gid.shape[0]):
        rows[gid[i]] += 1
    return 0


@nb.njit(**_JIT)
def source_group_stats(gid, ng, q, mode, bias, p, sentinel, lay, j, ist, fst):
    """``group_stats`` of value column ``j`` read straight from its encoded source (see
    ``_source_value``: the same values, summed in the same order, so the same bits, with no float64
    copy of the column). Needs the rows per group in ``ist[0]``: per row only the sum (or the
    missing count) is updated, and n = rows - missing.
    IN gid int[n] (any integer dtype), q int/float[n], lay int64[5] (the column's row of
    ``group_stats``'s ``lay``), ist[0] rows per group; OUT ``ist[1+2j]`` (n), ``ist[2+2j]``
    (missing), the ``fst`` rows of ``lay``."""
    nrows = gid.shape[0]
    rows = ist[0]
    n = ist[1 + 2 * j]
    nas = ist[2 + 2 * j]
    s = fst[lay[0]]
    for g in range(ng):
        nas[g] = 0
        s[g] = 0.0
    rmin = lay[3]
    rmax = lay[4]
    if rmin >= 0:
        mn = fst[rmin]
        mx = fst[rmax]
        for g in range(ng):
            mn[g] = np.inf
            mx[g] = -np.inf
        for i in range(nrows):
            g = gid[i]
            v = _source_value(q, i, mode, bias, p, sentinel)
            if np.isnan(v):
                nas[g] += 1
                continue
            s[g] += v
            if v < mn[g]:
                mn[g] = v
            if v > mx[g]:
                mx[g] = v
    elif mode == 0:  # the common case, with the decoding spelled out
        for i in range(nrows):
            v = q[i]
            if v == sentinel:
                nas[gid[i]] += 1
            else:
                s[gid[i]] += np.float64(np.int64(v) + bias)
    else:
        for i in range(nrows):
            g = gid[i]
            v = _source_value(q, i, mode, bias, p, sentinel)
            if np.isnan(v):
                nas[g] += 1
            else:
                s[g] += v
    for g in range(ng):
        n[g] = rows[g] - nas[g]
    rm2 = lay[2]
    if rm2 >= 0:
        mean = fst[lay[1]]
        m2 = fst[rm2]
        for g in range(ng):
            mean[g] = s[g] / n[g] if n[g] > 0 else 0.0
            m2[g] = 0.0
        for i in range(nrows):
            v = _source_value(q, i, mode, bias, p, sentinel)
            if not np.isnan(v):
                d = v - mean[gid[i]]
                m2[gid[i]] += d * d
    return 0


@nb.njit(**_JIT)
def _stats_merge(si, sf, a, b, lay):
    """Merge stack item b (si int64[depth, ri], sf float64[depth, rf]) into item a (the lower chunk
    indices): counts and sums add, (mean, M2) by Chan's formula, min/max combine."""
    si[a, 0] += si[b, 0]
    for j in range(lay.shape[0]):
        rs, rmean, rm2, rmin, rmax = lay[j, 0], lay[j, 1], lay[j, 2], lay[j, 3], lay[j, 4]
        n_a = si[a, 1 + 2 * j]
        n_b = si[b, 1 + 2 * j]
        n = n_a + n_b
        si[a, 1 + 2 * j] = n
        si[a, 2 + 2 * j] += si[b, 2 + 2 * j]
        sf[a, rs] += sf[b, rs]
        if rm2 >= 0:
            if n > 0:
                mean_a = sf[a, rmean]
                delta = sf[b, rmean] - mean_a
                frac = n_b / n
                sf[a, rmean] = mean_a + delta * frac
                sf[a, rm2] = sf[a, rm2] + sf[b, rm2] + delta * delta * n_a * frac
            else:
                sf[a, rmean] = 0.0
                sf[a, rm2] = 0.0
        if rmin >= 0:
            sf[a, rmin] = min(sf[a, rmin], sf[b, rmin])
            sf[a, rmax] = max(sf[a, rmax], sf[b, rmax])


@nb.njit(**_JIT)
def _level(c, d):
    """Level of the fixed tree where chunks c and d meet: ``bit_length(c ^ d)``."""
    x = c ^ d
    level = 0
    while x:
        x >>= 1
        level += 1
    return level


@nb.njit(**_JIT)
def _block_merge(bi, bf, a, b, lay, m):
    """Block buffer a (lower chunk indices) merged into buffer b for block entries 0..m-1 (see
    ``dense_tree_merge``): counts and sums add, (mean, M2) by Chan's formula (``_stats_merge``'s
    arithmetic, so the same bits), min/max combine; an entry without rows on one side is the
    identity."""
    ri = bi.shape[1]
    rf = bf.shape[1]
    for g in range(m):
        if bi[a, 0, g] == 0:
            continue
        if bi[b, 0, g] == 0:
            for r in range(ri):
                bi[b, r, g] = bi[a, r, g]
            for r in range(rf):
                bf[b, r, g] = bf[a, r, g]
            continue
        bi[b, 0, g] += bi[a, 0, g]
        for j in range(lay.shape[0]):
            rs, rmean, rm2, rmin, rmax = lay[j, 0], lay[j, 1], lay[j, 2], lay[j, 3], lay[j, 4]
            n_a = bi[a, 1 + 2 * j, g]
            n_b = bi[b, 1 + 2 * j, g]
            n = n_a + n_b
            bi[b, 1 + 2 * j, g] = n
            bi[b, 2 + 2 * j, g] += bi[a, 2 + 2 * j, g]
            bf[b, rs, g] = bf[a, rs, g] + bf[b, rs, g]
            if rm2 >= 0:
                if n > 0:
                    mean_a = bf[a, rmean, g]
                    delta = bf[b, rmean, g] - mean_a
                    frac = n_b / n
                    bf[b, rmean, g] = mean_a + delta * frac
                    bf[b, rm2, g] = bf[a, rm2, g] + bf[b, rm2, g] + delta * delta * n_a * frac
                else:
                    bf[b, rmean, g] = 0.0
                    bf[b, rm2, g] = 0.0
            if rmin >= 0:
                bf[b, rmin, g] = min(bf[a, rmin, g], bf[b, rmin, g])
                bf[b, rmax, g] = max(bf[a, rmax, g], bf[b, rmax, g])


@nb.njit(**_JIT)
def dense_tree_merge(codes_l, ist_l, fst_l, lay, lo, hi, block, out_i, out_f):
    """All chunks' statistics merged per code in the fixed tree over chunk indices, for codes
    ``lo <= code < hi``, a cache-sized block of codes at a time.

    Per block, the chunks (part k = chunk k, in order) are scattered into small dense buffers and
    merged as a binary counter over the chunk indices (the aligned blocks of the fixed tree; the
    unfinished blocks fold from the smallest at the end): a code without rows on one side is the
    identity, so the result is the tree pruned to the chunks that hold the group, the same bits as
    ``kway_merge_groups``. Only the inputs are read and the outputs written once (no full-span
    intermediate buffers).

    IN codes_l, ist_l, fst_l: typed lists with one entry per part (part k = chunk k): its ascending
    codes int64[m], ist int64[ri, m], fst float64[rf, m]; lay int64[nv, 5], block >= 1;
    OUT out_i int64[ri, span], out_f float64[rf, span]: columns lo..hi-1 (``out_i[0, g] == 0``: no
    rows with code g; its other entries are then undefined).
    """
    p = len(codes_l)
    ri = ist_l[0].shape[0]
    rf = fst_l[0].shape[0]
    nslot = 1
    while (1 << nslot) <= p:
        nslot += 1
    nbuf = nslot + 2
    bi = np.empty((nbuf, ri, block), np.int64)
    bf = np.empty((nbuf, rf, block), np.float64)
    pos = np.empty(p, np.int64)
    for k in range(p):
        pos[k] = np.searchsorted(codes_l[k], lo)
    free = np.empty(nbuf, np.int64)
    slot = np.empty(nslot + 1, np.int64)
    for b0 in range(lo, hi, block):
        b1 = min(hi, b0 + block)
        m = b1 - b0
        for i in range(nbuf):
            free[i] = i
        nfree = nbuf
        for i in range(nslot + 1):
            slot[i] = -1
        for c in range(p):
            nfree -= 1
            w = free[nfree]
            for g in range(m):
                bi[w, 0, g] = 0
            codes = codes_l[c]
            ist = ist_l[c]
            fst = fst_l[c]
            e = pos[c]
            end = codes.shape[0]
            while e < end and codes[e] < b1:
                g = codes[e] - b0
                for r in range(ri):
                    bi[w, r, g] = ist[r, e]
                for r in range(rf):
                    bf[w, r, g] = fst[r, e]
                e += 1
            pos[c] = e
            lvl = 0
            while (c >> lvl) & 1:  # the binary counter of the fixed tree: aligned blocks
                left = slot[lvl]
                slot[lvl] = -1
                _block_merge(bi, bf, left, w, lay, m)
                free[nfree] = left
                nfree += 1
                lvl += 1
            slot[lvl] = w
        acc = -1
        for lvl in range(nslot + 1):  # the unfinished blocks, from the smallest: a right fold
            if slot[lvl] < 0:
                continue
            if acc >= 0:
                _block_merge(bi, bf, slot[lvl], acc, lay, m)
            else:
                acc = slot[lvl]
        for r in range(ri):
            for g in range(m):
                out_i[r, b0 + g] = bi[acc, r, g]
        for r in range(rf):
            for g in range(m):
                out_f[r, b0 + g] = bf[acc, r, g]
    return 0


@nb.njit(**_JIT)
def _sift_down(heap, size, i, head):
    """Restore the heap below ``i``: parts ordered by their head code ``head[p]``, then by part
    (= chunk) index."""
    x = heap[i]
    hx = head[x]
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        m = left
        hm = head[heap[left]]
        right = left + 1
        if right < size:
            hr = head[heap[right]]
            if hr < hm or (hr == hm and heap[right] < heap[left]):
                m = right
                hm = hr
        if hm < hx or (hm == hx and heap[m] < x):
            heap[i] = heap[m]
            i = m
        else:
            break
    heap[i] = x


@nb.njit(**_JIT)
def kway_merge_groups(codes, starts, ends, cis, ist, fst, lay, out_codes, out_ist, out_fst):
    """Per group, its per-chunk statistics merged in the runtime's fixed reduction tree.

    The parts' ascending code runs are merged k-way (a heap of the run heads, ties broken by chunk
    order; every run is read forward, once), so each group's entries arrive together, in chunk
    order. The fixed tree over chunk indices (``tasks.reduce``: the left part of every split is an
    aligned power-of-two block) is the perfect binary tree over ``0..2**k-1``; a chunk where a group
    is absent is the identity, so a group's result is that tree pruned to the chunks that hold it:
    two neighbouring chunks c < d meet at level ``bit_length(c ^ d)``, and a stack that merges its
    top pair while that pair's level is below the next one's reproduces the tree (levels on the
    stack strictly decrease, so it is at most 64 deep). The answer depends only on the chunk
    indices, never on which node mapped a chunk.

    IN codes int64[E], ist int64[ri, E], fst float64[rf, E] (all parts' entries, concatenated),
    starts/ends int64[p] (the entries of part k to merge: ``starts[k]:ends[k]``, ascending codes),
    cis int64[p] (each part's chunk index, ascending), lay int64[nv, 5]; OUT out_codes int64[>= ng],
    out_ist int64[ri, >= ng], out_fst float64[rf, >= ng]. Returns ng.
    """
    p_n = starts.shape[0]
    ri = ist.shape[0]
    rf = fst.shape[0]
    pos = starts.copy()
    head = np.zeros(p_n, np.int64)  # each part's current code (kept here: the heap reads no runs)
    heap = np.empty(p_n, np.int64)
    size = 0
    for k in range(p_n):
        if pos[k] < ends[k]:
            head[k] = codes[pos[k]]
            heap[size] = k
            size += 1
    for i in range(size // 2 - 1, -1, -1):
        _sift_down(heap, size, i, head)
    si = np.empty((66, ri), np.int64)
    sf = np.empty((66, rf), np.float64)
    lvl = np.empty(66, np.int64)
    ng = 0
    s = 0
    cur = np.int64(0)
    prev = np.int64(0)
    while size > 0:
        k = heap[0]
        e = pos[k]
        code = head[k]
        c = cis[k]
        if s > 0 and code != cur:  # the previous group is complete
            while s >= 2:
                _stats_merge(si, sf, s - 2, s - 1, lay)
                s -= 1
            out_codes[ng] = cur
            for r in range(ri):
                out_ist[r, ng] = si[0, r]
            for r in range(rf):
                out_fst[r, ng] = sf[0, r]
            ng += 1
            s = 0
        if s > 0:
            level = _level(prev, c)
            while s >= 2 and lvl[s - 1] < level:
                _stats_merge(si, sf, s - 2, s - 1, lay)
                s -= 1
            lvl[s] = level
        for r in range(ri):
            si[s, r] = ist[r, e]
        for r in range(rf):
            sf[s, r] = fst[r, e]
        s += 1
        prev = c
        cur = code
        pos[k] = e + 1
        if pos[k] >= ends[k]:
            size -= 1
            heap[0] = heap[size]
        else:
            head[k] = codes[e + 1]
        if size > 0:
            _sift_down(heap, size, 0, head)
    if s > 0:
        while s >= 2:
            _stats_merge(si, sf, s - 2, s - 1, lay)
            s -= 1
        out_codes[ng] = cur
        for r in range(ri):
            out_ist[r, ng] = si[0, r]
        for r in range(rf):
            out_fst[r, ng] = sf[0, r]
        ng += 1
    return ng


@nb.njit(**_JIT)
def decode_key_column(rest, radix, lo, miss, out, na):
    """The last key of int64 codes (see ``composite_keys``), then drop it: ``c = rest % radix``,
    missing where ``c == radix - 1``; ``rest //= radix`` in place, so calling this for the keys from
    the last to the first decodes them all with one division each. IN/OUT rest int64[ng];
    IN radix/lo/miss int64; OUT out int[ng] (``lo + c``, or ``miss`` where missing), na bool[ng]."""
    for g in range(rest.shape[0]):
        r = rest[g]
        q = r // radix
        c = r - q * radix
        rest[g] = q
        if c == radix - 1:
            out[g] = miss
            na[g] = True
        else:
            out[g] = lo + c
            na[g] = False
    return 0


@nb.njit(**_JIT)
def decode_keys(codes, los, radix, out):
    """Key values of int64 codes (see ``composite_keys``). IN codes int64[ng], los float64[nk],
    radix int64[nk]; OUT out float64[nk, ng] (NaN = missing)."""
    nk = radix.shape[0]
    for g in range(codes.shape[0]):
        rest = codes[g]
        for q in range(nk - 1, -1, -1):
            c = rest % radix[q]
            rest = rest // radix[q]
            out[q, g] = np.nan if c == radix[q] - 1 else c + los[q] + 0.0
    return 0


# ============================================================================================ merge
@nb.njit(**_JIT)
def join_pairs(ix, iy, ng, all_x, all_y):
    """Row pairs of a join from dense key ids (-1 = missing key: never matches).

    IN ix int64[nx], iy int64[ny] (ids in [0, ng) or -1). Left rows in order, each with its
    matching right rows in right order (a counting sort of the right side by id); an unmatched left
    row gets right -1 when ``all_x``; with ``all_y`` the unmatched right rows follow, in order, with
    left -1. Returns (left int64[m], right int64[m]).
    """
    nx = ix.shape[0]
    ny = iy.shape[0]
    start = np.zeros(ng + 1, np.int64)
    for j in range(ny):
        if iy[j] >= 0:
            start[iy[j] + 1] += 1
    for g in range(ng):
        start[g + 1] += start[g]
    yo = np.empty(start[ng], np.int64)
    pos = start[:ng].copy()
    for j in range(ny):
        g = iy[j]
        if g >= 0:
            yo[pos[g]] = j
            pos[g] += 1
    m = 0
    for i in range(nx):
        g = ix[i]
        c = start[g + 1] - start[g] if g >= 0 else 0
        if c > 0:
            m += c
        elif all_x:
            m += 1
    matched = np.zeros(ny if all_y else 0, np.bool_)
    extra = 0
    if all_y:
        for i in range(nx):
            g = ix[i]
            if g >= 0:
                for p in range(start[g], start[g + 1]):
                    matched[yo[p]] = True
        for j in range(ny):
            if not matched[j]:
                extra += 1
    left = np.empty(m + extra, np.int64)
    right = np.empty(m + extra, np.int64)
    k = 0
    for i in range(nx):
        g = ix[i]
        c = start[g + 1] - start[g] if g >= 0 else 0
        if c > 0:
            for p in range(start[g], start[g + 1]):
                left[k] = i
                right[k] = yo[p]
                k += 1
        elif all_x:
            left[k] = i
            right[k] = -1
            k += 1
    if all_y:
        for j in range(ny):
            if not matched[j]:
                left[k] = -1
                right[k] = j
                k += 1
    return left, right


# ============================================================================================ quantile
@nb.njit(**_JIT)
def _bin_of(v, lo, scale, nbins):
    b = np.floor((v - lo) * scale)
    if not (b >= 0.0):  # also -inf - lo and NaN products (v = -inf)
        return 0
    if b >= nbins:
        return nbins - 1
    return np.int64(b)


@nb.njit(**_JIT)
def bin_counts(x, lo, hi, lo_in, hi_in, nbins, counts):
    """Counts of the present values of ``x`` inside [lo_in, hi_in] (bounds included) over ``nbins``
    bins ``floor((v - lo) * nbins / (hi - lo))`` (clamped): monotone in v, so bins keep value order.

    IN x float64[n]; OUT counts int64[nbins] (added to). Returns the present values below ``lo_in``.
    """
    scale = nbins / (hi - lo) if hi > lo else 0.0
    below = 0
    for i in range(x.shape[0]):
        v = x[i]
        if np.isnan(v):
            continue
        if v < lo_in:
            below += 1
            continue
        if v > hi_in:
            continue
        counts[_bin_of(v, lo, scale, nbins)] += 1
    return below


@nb.njit(**_JIT)
def bin_members(x, lo, hi, lo_in, hi_in, nbins, wanted):
    """The present values of ``x`` in [lo_in, hi_in] whose bin (see ``bin_counts``) is marked in
    ``wanted`` (bool[nbins]); returns (values float64[m], bins int64[m])."""
    scale = nbins / (hi - lo) if hi > lo else 0.0
    m = 0
    for i in range(x.shape[0]):
        v = x[i]
        if not np.isnan(v) and v >= lo_in and v <= hi_in and wanted[_bin_of(v, lo, scale, nbins)]:
            m += 1
    vals = np.empty(m, np.float64)
    bins = np.empty(m, np.int64)
    k = 0
    for i in range(x.shape[0]):
        v = x[i]
        if not np.isnan(v) and v >= lo_in and v <= hi_in:
            b = _bin_of(v, lo, scale, nbins)
            if wanted[b]:
                vals[k] = v
                bins[k] = b
                k += 1
    return vals, bins

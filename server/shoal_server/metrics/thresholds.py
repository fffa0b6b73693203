"""Compiled kernels of the exact binomial ``finish``: one pass each over the distinct thresholds.

The exact curve metrics see every distinct score, so at 1e7 rows their coordinator step is a few
passes over arrays of 1e7 elements. The numpy formulation (``metrics.curves``) builds ~30 such
arrays (each criterion at every threshold, reversed and shifted copies); these kernels compute the
same numbers with a handful of passes and allocations:

* :func:`merge_runs`: the canonical set (``metrics.rows``) of many canonical sets at once (the
  runs of all chunks), by pairwise merges between two preallocated buffers. The result is a pure
  function of the rows, so it equals the pairwise tree of ``merge_canonical``.
* :func:`group_rows`: distinct thresholds and cumulative tps/fps straight from canonical rows;
  the per-threshold sums follow ``np.add.reduceat`` (first value plus numpy's pairwise sum of the
  rest, :func:`pairwise_sum`) and the cumulation ``np.cumsum`` (left to right).
* :func:`best_and_ks`: the first index of the maximum of every criterion of the thresholds table
  (``np.nanargmax``) and the KS statistic, without materialising the criteria; the table itself
  evaluates ``curves.criteria`` at its ≤ 400 picked thresholds only.
* :func:`curve_terms`: the terms of the AUC and AUCPR sums (summed with ``np.sum``);
  :func:`curve_sum` gives that sum without the terms array.
* :func:`merge_counts` / :func:`binary_final`: the binary runs of ``rows.binary_run`` (one weight
  for every row): merge of counted runs, and the last pass from sorted class scores and counted
  runs straight to thresholds and cumulative tps/fps (the numbers of :func:`group_rows`).
* :func:`best_in_range_fast`: :func:`best_in_range` with the ten monotone criteria found at an end
  or by binary search and the others computed block by block (both classes present).
* :func:`gains_cumulative` / :func:`gains_groups`: the gains/lift weights and group sums
  (``np.cumsum`` and ``np.bincount`` order).

Every kernel evaluates the same IEEE operations in the same order as the numpy code it replaces
(no fast-math; division by zero gives inf/NaN as in numpy), so results have the same bits; the
tests compare them with the numpy formulation and with scikit-learn.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["pairwise_sum", "segment_sums", "merge_runs", "merge_two", "group_rows", "best_and_ks", "curve_terms",
           "merge_counts", "binary_final", "best_in_range", "best_in_range_fast", "curve_sum",
           "gains_cumulative", "gains_groups", "NCRITERIA"]

#: Criteria in ``curves.CRITERIA`` order.
NCRITERIA = 18
_PW_BLOCK = 128


@nb.njit(nogil=True, cache=True)
def pairwise_sum(a, lo, n):
    """numpy's pairwise summation (``np.add.reduce`` of float64) of ``a[lo:lo+n]``."""
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    if n <= _PW_BLOCK:
        r0 = a[lo]
        r1 = a[lo + 1]
        r2 = a[lo + 2]
        r3 = a[lo + 3]
        r4 = a[lo + 4]
        r5 = a[lo + 5]
        r6 = a[lo + 6]
        r7 = a[lo + 7]
        i = 8
        stop = n - (n % 8)
        while i < stop:
            r0 += a[lo + i]
            r1 += a[lo + i + 1]
            r2 += a[lo + i + 2]
            r3 += a[lo + i + 3]
            r4 += a[lo + i + 4]
            r5 += a[lo + i + 5]
            r6 += a[lo + i + 6]
            r7 += a[lo + i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return pairwise_sum(a, lo, n2) + pairwise_sum(a, lo + n2, n - n2)


@nb.njit(nogil=True, cache=True)
def _segment_sum(a, s, e):
    """``np.add.reduceat``'s value of the segment ``a[s:e]`` (e > s)."""
    if e - s == 1:
        return a[s]
    return a[s] + pairwise_sum(a, s + 1, e - s - 1)


@nb.njit(nogil=True, cache=True)
def segment_sums(a, starts, out):
    """OUT ``out[g]`` = ``np.add.reduceat(a, starts)[g]`` for increasing ``starts`` (IN)."""
    ng = starts.shape[0]
    for g in range(ng):
        e = starts[g + 1] if g + 1 < ng else a.shape[0]
        out[g] = _segment_sum(a, starts[g], e)
    return 0


# ------------------------------------------------------------------------------------------ merge
@nb.njit(nogil=True, cache=True)
def _merge_into(A, ca, a0, a1, b0, b1, out, out_c, u):
    """Merge canonical runs ``A[a0:a1]`` and ``A[b0:b1]`` into ``out`` from row ``u``; returns the end."""
    return merge_two(A[a0:a1], ca[a0:a1], A[b0:b1], ca[b0:b1], out, out_c, u)


@nb.njit(nogil=True, cache=True)
def merge_runs(K, C, bounds, K2, C2):
    """The canonical set of the union of canonical runs ``K[bounds[r]:bounds[r+1]]`` (counts ``C``).

    INOUT K, K2 float64[n, m] and C, C2 int64[n] (two buffers, ``K``/``C`` holding the runs);
    IN bounds int64[r+1]. Adjacent runs are merged in pairs, level by level, between the
    two buffers. Returns ``(which, n)``: the result is ``(K, C)[:n]`` when ``which == 0``, else
    ``(K2, C2)[:n]``.
    """
    nr = bounds.shape[0] - 1
    src_k, src_c, dst_k, dst_c = K, C, K2, C2
    which = 0
    nb_ = bounds.copy()
    while nr > 1:
        u = 0
        newb = np.empty(nr // 2 + nr % 2 + 1, np.int64)
        newb[0] = 0
        t = 0
        for r in range(0, nr - 1, 2):
            u = _merge_into(src_k, src_c, nb_[r], nb_[r + 1], nb_[r + 1], nb_[r + 2], dst_k, dst_c, u)
            t += 1
            newb[t] = u
        if nr % 2 == 1:
            s0, s1 = nb_[nr - 1], nb_[nr]
            for i in range(s0, s1):
                for k in range(src_k.shape[1]):
                    dst_k[u, k] = src_k[i, k]
                dst_c[u] = src_c[i]
                u += 1
            t += 1
            newb[t] = u
        nb_ = newb
        nr = t
        src_k, dst_k = dst_k, src_k
        src_c, dst_c = dst_c, src_c
        which = 1 - which
    return which, nb_[nr]


@nb.njit(nogil=True, cache=True)
def merge_two(A, ca, B, cb, out, out_c, u):
    """Merge canonical sets ``(A, ca)`` and ``(B, cb)`` (IN) into ``out``/``out_c`` from row ``u``
    (equal rows collapsed); returns the end row. Either set may be empty (a copy)."""
    m = A.shape[1]
    i = 0
    j = 0
    na, nb_ = A.shape[0], B.shape[0]
    while i < na and j < nb_:
        s = 0
        for k in range(m):
            x = A[i, k]
            z = B[j, k]
            if x < z:
                s = -1
                break
            if x > z:
                s = 1
                break
        if s <= 0:
            for k in range(m):
                out[u, k] = A[i, k]
            out_c[u] = ca[i] + (cb[j] if s == 0 else 0)
            i += 1
            if s == 0:
                j += 1
        else:
            for k in range(m):
                out[u, k] = B[j, k]
            out_c[u] = cb[j]
            j += 1
        u += 1
    while i < na:
        for k in range(m):
            out[u, k] = A[i, k]
        out_c[u] = ca[i]
        i += 1
        u += 1
    while j < nb_:
        for k in range(m):
            out[u, k] = B[j, k]
        out_c[u] = cb[j]
        j += 1
        u += 1
    return u


# ------------------------------------------------------------------------------------------ curves
@nb.njit(nogil=True, cache=True)
def _row_weight(k, c, i):
    if k.shape[1] > 2:
        return np.float64(c[i]) * k[i, 2]
    return np.float64(c[i]) * 1.0


@nb.njit(nogil=True, cache=True)
def _group_sum(k, c, s, e, positive):
    """The reduceat sum of the positive (or negative) weights of rows ``s .. e-1``."""
    n = e - s
    if n < 9:          # first value + a pairwise sum of < 8 values: a plain loop from -0.0
        yv = 1.0 if positive else 0.0
        first = _row_weight(k, c, s) if k[s, 1] == yv else 0.0
        if n == 1:
            return first
        res = -0.0
        for i in range(s + 1, e):
            res += _row_weight(k, c, i) if k[i, 1] == yv else 0.0
        return first + res
    tmp = np.empty(n)
    yv = 1.0 if positive else 0.0
    for i in range(n):
        tmp[i] = _row_weight(k, c, s + i) if k[s + i, 1] == yv else 0.0
    return _segment_sum(tmp, 0, n)


@nb.njit(nogil=True, cache=True)
def group_rows(k, c, thr, tp, fp):
    """Distinct thresholds (decreasing) and cumulative tps/fps of canonical rows (IN ``k``
    float64[n, 2 or 3] = (score, y[, w]) sorted, ``c`` int64[n] counts), exactly as
    ``curves.group_by_threshold`` on ``(score, where(y == 1, c*w, 0), where(y == 0, c*w, 0))``.
    OUT thr, tp, fp float64[>= groups]; returns the number of groups."""
    n = k.shape[0]
    g = 0
    s = 0
    while s < n:
        e = s + 1
        while e < n and k[e, 0] == k[s, 0]:
            e += 1
        thr[g] = k[s, 0]
        tp[g] = _group_sum(k, c, s, e, True)
        fp[g] = _group_sum(k, c, s, e, False)
        g += 1
        s = e
    for i in range(g // 2):           # decreasing thresholds
        j = g - 1 - i
        thr[i], thr[j] = thr[j], thr[i]
        tp[i], tp[j] = tp[j], tp[i]
        fp[i], fp[j] = fp[j], fp[i]
    for i in range(1, g):             # np.cumsum
        tp[i] = tp[i - 1] + tp[i]
        fp[i] = fp[i - 1] + fp[i]
    return g


@nb.njit(nogil=True, cache=True, error_model="numpy")
def _criteria_at(tp, fp, P, N, out):
    """OUT out float64[18]: ``curves.criteria`` at one threshold (same operations, same order)."""
    tn = N - fp
    fn = P - tp
    tpr = tp / P
    tnr = tn / N
    fpr = fp / N
    fnr = fn / P
    precision = tp / (tp + fp)
    if tp > 0:
        out[0] = (1 + 1.0) * tp / ((1 + 1.0) * tp + 1.0 * fn + fp)
        out[1] = (1 + 4.0) * tp / ((1 + 4.0) * tp + 4.0 * fn + fp)
        out[2] = (1 + 0.25) * tp / ((1 + 0.25) * tp + 0.25 * fn + fp)
    else:
        out[0] = 0.0
        out[1] = 0.0
        out[2] = 0.0
    out[3] = (tp + tn) / (P + N)
    out[4] = precision
    out[5] = tpr
    out[6] = tnr
    num = tp * tn - fp * fn
    if num == 0:
        out[7] = 0.0
    else:
        den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        out[7] = abs(num) / den
    if math.isnan(tpr) or math.isnan(tnr):
        out[8] = math.nan
    else:
        out[8] = min(tpr, tnr)
    out[9] = (tpr + tnr) / 2
    out[10] = tn
    out[11] = fn
    out[12] = fp
    out[13] = tp
    out[14] = tnr
    out[15] = fnr
    out[16] = fpr
    out[17] = tpr


@nb.njit(nogil=True, cache=True, error_model="numpy")
def best_in_range(tp, fp, lo, hi, best, bv, finite):
    """:func:`best_and_ks` over thresholds ``lo .. hi-1``: OUT best int64[18] (-1: no value),
    bv float64[18] (the maxima), finite bool[18] (a finite value seen). Returns the KS maximum
    of the range (NaN if none)."""
    n = tp.shape[0]
    P = tp[n - 1]
    N = fp[n - 1]
    vals = np.empty(NCRITERIA)
    for j in range(NCRITERIA):
        best[j] = -1
        bv[j] = -np.inf
        finite[j] = False
    ks = math.nan
    both = P > 0 and N > 0
    for i in range(lo, hi):
        _criteria_at(tp[i], fp[i], P, N, vals)
        for j in range(NCRITERIA):
            v = vals[j]
            if math.isnan(v):
                continue
            if math.isfinite(v):
                finite[j] = True
            if best[j] < 0 or v > bv[j]:
                best[j] = i
                bv[j] = v
        if both:
            d = tp[i] / P - fp[i] / N
            if not math.isnan(d) and (math.isnan(ks) or d > ks):
                ks = d
    return ks


_BLOCK = 512
#: Criteria scanned value by value in :func:`best_in_range_fast` (the others are monotone).
_SCANNED = (0, 1, 2, 3, 4, 7, 8, 9)


@nb.njit(nogil=True, cache=True, error_model="numpy")
def _block_values(tp, fp, P, N, s, e, vals):
    """OUT vals float64[9, >= e-s]: f1, f2, f0point5, accuracy, precision, absolute_mcc,
    min_per_class_accuracy, mean_per_class_accuracy and tpr - fpr at thresholds ``s .. e-1``,
    the operations of :func:`_criteria_at` (selects instead of branches, so the loop vectorizes;
    the same IEEE results)."""
    for t in range(e - s):
        tpi = tp[s + t]
        fpi = fp[s + t]
        tn = N - fpi
        fn = P - tpi
        tpr = tpi / P
        tnr = tn / N
        fpr = fpi / N
        pos = tpi > 0
        f1 = (1 + 1.0) * tpi / ((1 + 1.0) * tpi + 1.0 * fn + fpi)
        f2 = (1 + 4.0) * tpi / ((1 + 4.0) * tpi + 4.0 * fn + fpi)
        f05 = (1 + 0.25) * tpi / ((1 + 0.25) * tpi + 0.25 * fn + fpi)
        vals[0, t] = f1 if pos else 0.0
        vals[1, t] = f2 if pos else 0.0
        vals[2, t] = f05 if pos else 0.0
        vals[3, t] = (tpi + tn) / (P + N)
        vals[4, t] = tpi / (tpi + fpi)
        num = tpi * tn - fpi * fn
        mcc = abs(num) / math.sqrt((tpi + fpi) * (tpi + fn) * (tn + fpi) * (tn + fn))
        vals[5, t] = 0.0 if num == 0 else mcc
        vals[6, t] = math.nan if (math.isnan(tpr) or math.isnan(tnr)) else min(tpr, tnr)
        vals[7, t] = (tpr + tnr) / 2
        vals[8, t] = tpr - fpr
    return 0


@nb.njit(nogil=True, cache=True, error_model="numpy")
def _first_at_least(tp, fp, P, N, j, lo, hi, target):
    """The first ``i`` in ``lo .. hi-1`` whose criterion ``j`` (non-decreasing in ``i``) is
    ``>= target`` (binary search; the value by :func:`_criteria_at`'s operations)."""
    a = lo
    b = hi - 1
    while a < b:
        mid = (a + b) // 2
        if j == 12:
            v = fp[mid]
        elif j == 13:
            v = tp[mid]
        elif j == 16:
            v = fp[mid] / N
        else:                       # 5 recall, 17 tpr
            v = tp[mid] / P
        if v >= target:
            b = mid
        else:
            a = mid + 1
    return a


@nb.njit(nogil=True, cache=True, error_model="numpy")
def best_in_range_fast(tp, fp, lo, hi, best, bv, finite):
    """:func:`best_in_range` (same outputs) when both class totals ``P = tp[-1]``, ``N = fp[-1]``
    are finite and positive (``lo < hi``). Ten criteria are monotone in the threshold index (tps,
    fps, recall, tpr, fpr never decrease as the cumulative counts grow; tns, fns, specificity, tnr,
    fnr never increase), so their first maximum is found at an end or by a binary search; the
    other eight and KS are computed block by block into arrays (a vectorizable loop) and scanned
    with one comparison each (NaN never compares greater, so it is skipped as ``nanargmax`` does;
    ``>`` keeps the first index of the maximum)."""
    n = tp.shape[0]
    P = tp[n - 1]
    N = fp[n - 1]
    vals = np.empty((9, _BLOCK))
    for j in range(NCRITERIA):
        best[j] = -1
        bv[j] = -np.inf
        finite[j] = False
    ks = -np.inf
    ks_seen = False
    for s in range(lo, hi, _BLOCK):
        e = min(s + _BLOCK, hi)
        _block_values(tp, fp, P, N, s, e, vals)
        for q in range(8):
            j = _SCANNED[q]
            b = bv[j]
            bi = best[j]
            fin = finite[j]
            for t in range(e - s):
                v = vals[q, t]
                if v > b:
                    b = v
                    bi = s + t
                fin = fin or math.isfinite(v)
            bv[j] = b
            best[j] = bi
            finite[j] = fin
        for t in range(e - s):
            d = vals[8, t]
            if d > ks:
                ks = d
            ks_seen = ks_seen or not math.isnan(d)
    # the monotone criteria: every value is finite here (0 <= tp <= P, 0 <= fp <= N)
    vv = np.empty(NCRITERIA)
    _criteria_at(tp[lo], fp[lo], P, N, vv)
    for j in (6, 10, 11, 14, 15):          # non-increasing: the first index of the range
        best[j] = lo
        bv[j] = vv[j]
        finite[j] = True
    _criteria_at(tp[hi - 1], fp[hi - 1], P, N, vv)
    for j in (5, 12, 13, 16, 17):          # non-decreasing: the first index reaching the last value
        best[j] = _first_at_least(tp, fp, P, N, j, lo, hi, vv[j])
        bv[j] = vv[j]
        finite[j] = True
    return ks if ks_seen else math.nan


def best_and_ks(tp, fp, best, pool=None) -> float:
    """OUT best int64[18]: per criterion the ``np.nanargmax`` index over all thresholds, -1 when
    no value is finite. Returns ``nanmax(tpr - fpr)`` (NaN when a class is absent). With a thread
    ``pool`` the two halves of the thresholds are scanned at once and combined (the first half
    wins ties: the first index of the maximum)."""
    n = tp.shape[0]
    halves = [(0, n)] if pool is None or n < 200_000 else [(0, n // 2), (n // 2, n)]
    P = tp[n - 1] if n else 0.0
    N = fp[n - 1] if n else 0.0
    fast = math.isfinite(P) and math.isfinite(N) and P > 0 and N > 0
    scan_range = best_in_range_fast if fast else best_in_range

    def scan(r):
        b = np.empty(NCRITERIA, np.int64)
        v = np.empty(NCRITERIA)
        f = np.empty(NCRITERIA, np.bool_)
        k = scan_range(tp, fp, r[0], r[1], b, v, f)
        return b, v, f, k

    parts = list(pool.map(scan, halves)) if len(halves) > 1 else [scan(halves[0])]
    ks = math.nan
    for j in range(NCRITERIA):
        best[j] = -1
    bv = np.full(NCRITERIA, -np.inf)
    finite = np.zeros(NCRITERIA, bool)
    for b, v, f, k in parts:
        for j in range(NCRITERIA):
            if b[j] >= 0 and (best[j] < 0 or v[j] > bv[j]):
                best[j] = b[j]
                bv[j] = v[j]
        finite |= f
        if not math.isnan(k) and (math.isnan(ks) or k > ks):
            ks = k
    best[~finite] = -1
    return ks


@nb.njit(nogil=True, cache=True, error_model="numpy")
def curve_terms(tp, fp, which, out):
    """OUT out float64[n]: the terms summed by ``curves.auc_from_counts`` (``which == 0``:
    ``diff(fp) * (tp[i] + tp[i-1])`` with a leading 0) or ``aucpr_from_counts`` (``which == 1``:
    ``diff(tp) / P * precision``)."""
    n = tp.shape[0]
    P = tp[n - 1]
    for i in range(n):
        tprev = tp[i - 1] if i > 0 else 0.0
        if which == 0:
            fprev = fp[i - 1] if i > 0 else 0.0
            out[i] = (fp[i] - fprev) * (tp[i] + tprev)
        else:
            denom = tp[i] + fp[i]
            prec = tp[i] / denom if denom > 0 else 1.0
            out[i] = (tp[i] - tprev) / P * prec
    return 0


@nb.njit(nogil=True, cache=True, error_model="numpy")
def _curve_term(tp, fp, P, which, i):
    """Term ``i`` of :func:`curve_terms`."""
    tprev = tp[i - 1] if i > 0 else 0.0
    if which == 0:
        fprev = fp[i - 1] if i > 0 else 0.0
        return (fp[i] - fprev) * (tp[i] + tprev)
    denom = tp[i] + fp[i]
    prec = tp[i] / denom if denom > 0 else 1.0
    return (tp[i] - tprev) / P * prec


@nb.njit(nogil=True, cache=True, error_model="numpy")
def curve_sum(tp, fp, which, lo, n):
    """``np.sum`` of ``curve_terms(tp, fp, which)[lo:lo+n]`` without the terms array: the terms are
    computed where :func:`pairwise_sum` reads them, so the sum has the same bits."""
    P = tp[tp.shape[0] - 1]
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += _curve_term(tp, fp, P, which, i)
        return res
    if n <= _PW_BLOCK:
        r0 = _curve_term(tp, fp, P, which, lo)
        r1 = _curve_term(tp, fp, P, which, lo + 1)
        r2 = _curve_term(tp, fp, P, which, lo + 2)
        r3 = _curve_term(tp, fp, P, which, lo + 3)
        r4 = _curve_term(tp, fp, P, which, lo + 4)
        r5 = _curve_term(tp, fp, P, which, lo + 5)
        r6 = _curve_term(tp, fp, P, which, lo + 6)
        r7 = _curve_term(tp, fp, P, which, lo + 7)
        i = 8
        stop = n - (n % 8)
        while i < stop:
            r0 += _curve_term(tp, fp, P, which, lo + i)
            r1 += _curve_term(tp, fp, P, which, lo + i + 1)
            r2 += _curve_term(tp, fp, P, which, lo + i + 2)
            r3 += _curve_term(tp, fp, P, which, lo + i + 3)
            r4 += _curve_term(tp, fp, P, which, lo + i + 4)
            r5 += _curve_term(tp, fp, P, which, lo + i + 5)
            r6 += _curve_term(tp, fp, P, which, lo + i + 6)
            r7 += _curve_term(tp, fp, P, which, lo + i + 7)
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += _curve_term(tp, fp, P, which, lo + i)
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return curve_sum(tp, fp, which, lo, n2) + curve_sum(tp, fp, which, lo + n2, n - n2)


# ------------------------------------------------------------------------------------------ gains/lift
@nb.njit(nogil=True, cache=True)
def gains_cumulative(tp, fp, cum):
    """OUT cum float64[n]: ``np.cumsum`` of the weight of each distinct score in increasing score
    order, the weights being ``diff([0, tp + fp])`` of the decreasing thresholds."""
    n = tp.shape[0]
    acc = 0.0
    for j in range(n):
        kk = n - 1 - j
        w = (tp[kk] + fp[kk]) - ((tp[kk - 1] + fp[kk - 1]) if kk > 0 else 0.0)
        acc = w if j == 0 else acc + w
        cum[j] = acc
    return 0


@nb.njit(nogil=True, cache=True)
def gains_groups(thr, tp, fp, cuts_asc, g_e, g_n, g_s):
    """The gains/lift group sums (``np.bincount`` with weights, in increasing score order) of
    the distinct thresholds ``thr`` (decreasing) cut at ``cuts_asc``; group ``ncut - #(cuts <= v)``,
    rows below every cut dropped. OUT g_e, g_n, g_s float64[ncut] (zeroed here)."""
    n = thr.shape[0]
    ncut = cuts_asc.shape[0]
    for g in range(ncut):
        g_e[g] = 0.0
        g_n[g] = 0.0
        g_s[g] = 0.0
    c = 0
    for j in range(n):
        kk = n - 1 - j
        v = thr[kk]
        while c < ncut and cuts_asc[c] <= v:
            c += 1
        grp = ncut - c
        if grp >= ncut:
            continue
        w = (tp[kk] + fp[kk]) - ((tp[kk - 1] + fp[kk - 1]) if kk > 0 else 0.0)
        ev = tp[kk] - (tp[kk - 1] if kk > 0 else 0.0)
        g_e[grp] += ev
        g_n[grp] += w
        g_s[grp] += v * w
    return 0


# ------------------------------------------------------------------------------------------ binary runs
@nb.njit(nogil=True, cache=True)
def merge_counts(pa, a0, a1, pb, b0, b1, op, o0, o1, u):
    """Merge binary runs (``rows.binary_run``: increasing distinct scores ``pa``/``pb`` with class
    counts, IN) into ``op``/``o0``/``o1`` (OUT) from element ``u``, equal scores added; returns the
    end. Without branches on the data in the loop (the scores interleave at random)."""
    na, nb_ = pa.shape[0], pb.shape[0]
    i = 0
    j = 0
    while i < na and j < nb_:
        x = pa[i]
        z = pb[j]
        ta = x <= z
        tb = z <= x
        op[u] = x if ta else z
        o0[u] = (a0[i] if ta else 0) + (b0[j] if tb else 0)
        o1[u] = (a1[i] if ta else 0) + (b1[j] if tb else 0)
        i += np.int64(ta)
        j += np.int64(tb)
        u += 1
    while i < na:
        op[u] = pa[i]
        o0[u] = a0[i]
        o1[u] = a1[i]
        i += 1
        u += 1
    while j < nb_:
        op[u] = pb[j]
        o0[u] = b0[j]
        o1[u] = b1[j]
        j += 1
        u += 1
    return u


@nb.njit(nogil=True, cache=True)
def binary_final(s0, s1, p, n0, n1, w, thr, tp, fp):
    """Thresholds and counts of binary runs, fused with :func:`group_rows`. IN the sorted scores of
    the ``y = 0`` rows ``s0`` and of the ``y = 1`` rows ``s1`` (one element a row) and the distinct
    increasing scores ``p`` with their class counts ``n0``/``n1`` (any part may be empty); every row
    of weight ``w``. OUT thr, tp, fp float64[>= groups]: the distinct thresholds (decreasing) and
    the cumulative tps/fps, each score's counts weighted ``float(n) * w``, cumulated as
    ``np.cumsum`` (left to right; starting from -0.0 is the identity). These are
    :func:`group_rows`' numbers on the canonical rows of the same set: a threshold holds at most
    the rows ``(p, 0, w)`` and ``(p, 1, w)``, whose reduceat sums are ``n0 * w`` and ``n1 * w``
    exactly. Returns the number of thresholds."""
    i = s0.shape[0] - 1
    j = s1.shape[0] - 1
    k = p.shape[0] - 1
    g = 0
    ct = -0.0
    cf = -0.0
    while i >= 0 or j >= 0 or k >= 0:
        has = False
        v = 0.0
        if i >= 0:
            v = s0[i]
            has = True
        if j >= 0 and (not has or s1[j] > v):
            v = s1[j]
            has = True
        if k >= 0 and (not has or p[k] > v):
            v = p[k]
        c0 = 0
        c1 = 0
        while i >= 0 and s0[i] == v:
            c0 += 1
            i -= 1
        while j >= 0 and s1[j] == v:
            c1 += 1
            j -= 1
        if k >= 0 and p[k] == v:
            c0 += n0[k]
            c1 += n1[k]
            k -= 1
        thr[g] = v
        ct = ct + np.float64(c1) * w
        cf = cf + np.float64(c0) * w
        tp[g] = ct
        fp[g] = cf
        g += 1
    return g

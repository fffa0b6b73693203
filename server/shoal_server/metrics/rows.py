"""Canonical row sets: the mergeable form behind the exact (sorted-thresholds) curve metrics.

An exact AUC needs every distinct score, so the partial of a chunk is its scored rows, sorted by
a total order on the row *values* (lexicographic over the key columns) and with identical rows
collapsed into an integer count. The merge of two such sets is again sorted and collapsed (a
linear two-way merge), so the final set is a pure function of the multiset of rows: any chunking,
thread count or node count gives the same arrays, and every sum taken over them in ``finish``
has the same bits.

A set travels as ``{"k": float64[n, m], "c": int64[n]}`` (key columns; counts).

The common binomial key ``(p, y[, w])`` with a 0/1 ``y`` and one ``w`` for every row (no weights
column, or all weights equal) takes a faster path to the same arrays: the scores of each class
are sorted with ``np.sort`` and the two sorted runs merged (``y = 0`` first on equal scores),
instead of a lexicographic sort of the whole key.
"""
from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["canonical", "merge_canonical"]


@nb.njit(nogil=True, cache=True)
def _cmp(A, i, B, j):
    for k in range(A.shape[1]):
        if A[i, k] < B[j, k]:
            return -1
        if A[i, k] > B[j, k]:
            return 1
    return 0


@nb.njit(nogil=True, cache=True)
def collapse_sorted_rows(A, c, out, out_c):
    """Collapse equal consecutive rows of the sorted ``A`` (IN float64[n, m]; counts IN int64[n])
    into ``out``/``out_c`` (OUT, same shapes); returns the number of distinct rows."""
    n = A.shape[0]
    u = -1
    for i in range(n):
        if u >= 0 and _cmp(A, i, out, u) == 0:
            out_c[u] += c[i]
        else:
            u += 1
            out[u, :] = A[i, :]
            out_c[u] = c[i]
    return u + 1


@nb.njit(nogil=True, cache=True)
def merge_sorted_rows(A, ca, B, cb, out, out_c):
    """Two-way merge of two canonical sets (IN) into ``out``/``out_c`` (OUT, room for both);
    equal rows are collapsed. Returns the number of rows written."""
    i = 0
    j = 0
    u = 0
    na, nb_ = A.shape[0], B.shape[0]
    while i < na or j < nb_:
        if j >= nb_:
            s = -1
        elif i >= na:
            s = 1
        else:
            s = _cmp(A, i, B, j)
        if s < 0:
            out[u, :] = A[i, :]
            out_c[u] = ca[i]
            i += 1
        elif s > 0:
            out[u, :] = B[j, :]
            out_c[u] = cb[j]
            j += 1
        else:
            out[u, :] = A[i, :]
            out_c[u] = ca[i] + cb[j]
            i += 1
            j += 1
        u += 1
    return u


@nb.njit(nogil=True, cache=True)
def merge_binary_sorted(s0, s1, m, wval, out, out_c):
    """The canonical rows of key ``(p, y[, w])`` from the sorted scores of the ``y = 0`` rows
    (IN ``s0``) and of the ``y = 1`` rows (IN ``s1``), every row with weight ``wval`` (used when
    ``m == 3``). OUT ``out`` float64[n, m], ``out_c`` int64[n]; returns the number of rows written."""
    i = 0
    j = 0
    u = -1
    n0, n1 = s0.shape[0], s1.shape[0]
    while i < n0 or j < n1:
        if j >= n1 or (i < n0 and s0[i] <= s1[j]):
            v = s0[i]
            yv = 0.0
            i += 1
        else:
            v = s1[j]
            yv = 1.0
            j += 1
        if u >= 0 and out[u, 0] == v and out[u, 1] == yv:
            out_c[u] += 1
        else:
            u += 1
            out[u, 0] = v
            out[u, 1] = yv
            if m == 3:
                out[u, 2] = wval
            out_c[u] = 1
    return u + 1


def _canonical_binary(k: np.ndarray) -> dict | None:
    """The fast path (module docstring) when it applies to ``k`` (float64[n, 2 or 3]); else None."""
    n, m = k.shape
    if m not in (2, 3):
        return None
    return canonical_binary(k[:, 0], k[:, 1], k[:, 2] if m == 3 else None)


def canonical_binary(p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> dict | None:
    """``canonical(column_stack([p, y, w] or [p, y]))`` by the fast path (no NaN in the inputs),
    or None when ``y`` is not 0/1 or ``w`` is not one value (then use :func:`canonical`)."""
    n = p.shape[0]
    one = y == 1.0
    if n == 0 or not bool(np.all(one | (y == 0.0))):
        return None
    m = 2
    wval = 0.0
    if w is not None:
        m = 3
        wval = float(w[0]) + 0.0
        if not bool(np.all(w == wval)):
            return None
    s1 = p[one]
    s0 = p[~one] if s1.shape[0] else np.array(p, dtype=np.float64)
    s0 = np.sort(s0.astype(np.float64, copy=False)) + 0.0
    s1 = np.sort(s1.astype(np.float64, copy=False)) + 0.0
    out = np.empty((n, m), np.float64)
    out_c = np.empty(n, np.int64)
    u = merge_binary_sorted(s0, s1, m, wval, out, out_c)
    return {"k": out[:u], "c": out_c[:u]}


def canonical(keys: np.ndarray, counts: np.ndarray | None = None) -> dict:
    """The canonical set of the rows of ``keys`` (float64[n, m], no NaN; -0.0 folded into 0.0)."""
    k = np.ascontiguousarray(keys, dtype=np.float64) + 0.0
    n, m = k.shape
    c = np.ones(n, np.int64) if counts is None else np.asarray(counts, np.int64)
    if n == 0:
        return {"k": k, "c": c}
    if counts is None:
        fast = _canonical_binary(k)
        if fast is not None:
            return fast
    order = np.lexsort([k[:, j] for j in range(m - 1, -1, -1)])
    out = np.empty_like(k)
    out_c = np.empty(n, np.int64)
    u = collapse_sorted_rows(np.ascontiguousarray(k[order]), c[order], out, out_c)
    return {"k": out[:u].copy(), "c": out_c[:u].copy()}


def merge_canonical(a: dict, b: dict) -> dict:
    """The canonical set of the union of two canonical sets."""
    A = np.ascontiguousarray(a["k"], dtype=np.float64)
    B = np.ascontiguousarray(b["k"], dtype=np.float64)
    out = np.empty((A.shape[0] + B.shape[0], A.shape[1]), np.float64)
    out_c = np.empty(out.shape[0], np.int64)
    u = merge_sorted_rows(A, np.asarray(a["c"], np.int64), B, np.asarray(b["c"], np.int64), out, out_c)
    return {"k": out[:u].copy() if u < out.shape[0] else out, "c": out_c[:u].copy() if u < out.shape[0] else out_c}

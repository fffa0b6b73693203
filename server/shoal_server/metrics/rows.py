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

The exact binomial metrics ship that common case in a narrower form, a *binary run*
``{"s0": float64[a], "s1": float64[b], "p": float64[u], "n0": int64[u], "n1": int64[u], "w": float,
"m": 2 or 3}``: the multiset union of the sorted scores of the ``y = 0`` rows (``s0``) and of the
``y = 1`` rows (``s1``), one element per row, and of distinct increasing scores ``p`` with the
number of rows of each class there (``n0``, ``n1``); every row has weight ``w``; ``m`` is the width
of the key it stands for (3 when the key holds the weight). :func:`binary_run` puts a block's rows
in ``s0``/``s1`` (8 bytes a row) when more than a third of its (score, class) pairs are distinct,
else in ``p``/``n0``/``n1`` (24 bytes a distinct score): whichever is smaller. It is the same set as the canonical rows
(:func:`binary_to_rows` gives them back); ``binomial.binary_thresholds`` turns many runs into
thresholds and counts with one sort of the raw scores and a merge of the counted ones.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from .thresholds import merge_counts

__all__ = ["canonical", "merge_canonical", "canonical_binary", "binary_run", "binary_to_rows",
           "is_binary_run", "binary_counts", "binary_run_of",
           "binary_run_of_classes", "classes_of", "split_by_class"]


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


@nb.njit(nogil=True, cache=True)
def binary_counts_sorted(s0, s1, p_out, n0_out, n1_out):
    """Distinct values of the sorted ``s0`` (class 0) and ``s1`` (class 1) (IN float64) with the
    number of each class at each. OUT p_out float64[n], n0_out, n1_out int64[n] (n = both sizes);
    returns the number of distinct values."""
    i = 0
    j = 0
    u = -1
    n0, n1 = s0.shape[0], s1.shape[0]
    while i < n0 or j < n1:
        if j >= n1 or (i < n0 and s0[i] <= s1[j]):
            v = s0[i]
            cls = 0
            i += 1
        else:
            v = s1[j]
            cls = 1
            j += 1
        if u < 0 or p_out[u] != v:
            u += 1
            p_out[u] = v
            n0_out[u] = 0
            n1_out[u] = 0
        if cls == 0:
            n0_out[u] += 1
        else:
            n1_out[u] += 1
    return u + 1


@nb.njit(nogil=True, cache=True)
def split_by_class(y, p, s0, s1):
    """OUT s0 / s1 float64: the scores ``p`` (IN float64[n]) of the rows with ``y`` (IN float64[n],
    0/1) 0 / 1, in row order (``p[y != 1]``, ``p[y == 1]`` in one pass; sized by the caller)."""
    i0 = 0
    i1 = 0
    for i in range(y.shape[0]):
        if y[i] == 1.0:
            s1[i1] = p[i]
            i1 += 1
        else:
            s0[i0] = p[i]
            i0 += 1
    return i0


def classes_of(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(p[y != 1], p[y == 1])`` as new float64 arrays (``y`` 0/1, float64)."""
    n1 = int(np.count_nonzero(y == 1.0))
    s0 = np.empty(y.shape[0] - n1)
    s1 = np.empty(n1)
    split_by_class(np.ascontiguousarray(y, dtype=np.float64), np.ascontiguousarray(p, dtype=np.float64), s0, s1)
    return s0, s1


def binary_run(p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> dict | None:
    """The binary run (module docstring) of rows ``(p, y[, w])`` (no NaN in the inputs), or None
    when ``y`` is not 0/1 or ``w`` is not one finite positive value (then use :func:`canonical`).
    ``w`` None: the key is ``(p, y)``, every row of weight 1."""
    n = p.shape[0]
    one = y == 1.0
    if n == 0 or not bool(np.all(one | (y == 0.0))):
        return None
    m = 2
    wval = 1.0
    if w is not None:
        m = 3
        wval = float(w[0]) + 0.0
        if not (math.isfinite(wval) and wval > 0.0) or not bool(np.all(w == wval)):
            return None
    return binary_run_of(p, one, m, wval)


def binary_run_of(p: np.ndarray, one: np.ndarray, m: int, wval: float) -> dict:
    """:func:`binary_run` of scores ``p`` with class 1 where ``one`` (bool), key width ``m``, every
    row of weight ``wval`` (the caller checked the classes and the weights)."""
    return binary_run_of_classes(np.array(p[~one], dtype=np.float64), np.array(p[one], dtype=np.float64), m, wval)


def binary_run_of_classes(s0: np.ndarray, s1: np.ndarray, m: int, wval: float) -> dict:
    """:func:`binary_run` of the scores ``s0`` of the class-0 rows and ``s1`` of the class-1 rows
    (float64, any order; sorted in place and kept), key width ``m``, every row of weight ``wval``."""
    s0.sort()
    s1.sort()
    s0 += 0.0                       # -0.0 -> 0.0
    s1 += 0.0
    n = s0.shape[0] + s1.shape[0]
    distinct = _distinct_sorted(s0) + _distinct_sorted(s1)
    if 3 * distinct > n:          # 8 bytes a row beat 24 bytes a distinct score
        e = np.empty(0, np.int64)
        return {"s0": s0, "s1": s1, "p": np.empty(0), "n0": e, "n1": e, "w": wval, "m": m}
    po = np.empty(n, np.float64)
    n0 = np.empty(n, np.int64)
    n1 = np.empty(n, np.int64)
    u = binary_counts_sorted(s0, s1, po, n0, n1)
    e = np.empty(0)
    return {"s0": e, "s1": e, "p": po[:u].copy(), "n0": n0[:u].copy(), "n1": n1[:u].copy(), "w": wval, "m": m}


def _distinct_sorted(s: np.ndarray) -> int:
    return int(s.shape[0] > 0) + int(np.count_nonzero(s[1:] != s[:-1]))


def is_binary_run(run: dict) -> bool:
    return "s0" in run


def binary_counts(run: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p, n0, n1)``: a binary run with its raw scores counted in (distinct increasing scores)."""
    s0 = np.ascontiguousarray(run["s0"], dtype=np.float64)
    s1 = np.ascontiguousarray(run["s1"], dtype=np.float64)
    n = s0.shape[0] + s1.shape[0]
    po = np.empty(n, np.float64)
    n0 = np.empty(n, np.int64)
    n1 = np.empty(n, np.int64)
    u = binary_counts_sorted(s0, s1, po, n0, n1)
    pc = np.ascontiguousarray(run["p"], dtype=np.float64)
    if pc.shape[0] == 0:
        return po[:u], n0[:u], n1[:u]
    out_p = np.empty(u + pc.shape[0])
    out_0 = np.empty(out_p.shape[0], np.int64)
    out_1 = np.empty(out_p.shape[0], np.int64)
    v = merge_counts(po[:u], n0[:u], n1[:u], pc, np.ascontiguousarray(run["n0"], dtype=np.int64),
                     np.ascontiguousarray(run["n1"], dtype=np.int64), out_p, out_0, out_1, 0)
    return out_p[:v], out_0[:v], out_1[:v]


def binary_to_rows(run: dict) -> dict:
    """The canonical rows ``{"k", "c"}`` of a binary run: ``(p, 0[, w])`` then ``(p, 1[, w])`` at
    each score, the rows of a zero count left out."""
    p, n0, n1 = binary_counts(run)
    m = int(run["m"])
    k = np.empty((2 * p.shape[0], m), np.float64)
    c = np.empty(2 * p.shape[0], np.int64)
    k[0::2, 0] = p
    k[1::2, 0] = p
    k[0::2, 1] = 0.0
    k[1::2, 1] = 1.0
    if m == 3:
        k[:, 2] = float(run["w"])
    c[0::2] = n0
    c[1::2] = n1
    keep = c > 0
    return {"k": np.ascontiguousarray(k[keep]), "c": np.ascontiguousarray(c[keep])}

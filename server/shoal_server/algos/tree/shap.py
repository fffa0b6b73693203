"""Exact TreeSHAP of tree models (path-dependent, cover-weighted), computed leaf by leaf.

The values are those of Lundberg's TreeSHAP (Lundberg et al. 2020, Algorithm 2; LightGBM's
``pred_contrib``, XGBoost's ``pred_contribs``), computed as GPUTreeShap and "Fast TreeSHAP v2"
(Yang 2021) arrange the work:

- Each root-to-leaf path is reduced once per model to its *unique* features: for feature ``f`` on
  the path, the zero fraction ``z_f`` is the product of ``cover[child] / cover[node]`` over the
  path's splits on ``f``, and the row's one fraction ``o_f`` is 1 when the row follows every one of
  those splits, else 0. TreeSHAP's recursion computes exactly these per-leaf paths (it unwinds a
  repeated feature and extends it again), and the Shapley weights of a path do not depend on the
  order of its elements, so summing each leaf's path gives Algorithm 2's values.
- A leaf with ``m`` unique features has only ``2^m`` possible one-fraction patterns. When the rows
  to score outnumber them (``TABLE_ROWS_PER_PATTERN`` rows a pattern), the leaf's contributions of
  every pattern are tabulated up front (``2^m · m`` values); a row then costs, per leaf, ``m``
  decision look-ups and ``m`` additions instead of TreeSHAP's ``O(m^2)`` extend / unwind work.
  Other leaves (deep trees, few rows) get the path's weights computed for the row directly.

Per row, each internal node's decision is evaluated once (the routing of ``kernels.predict_trees``:
NaN and unseen levels follow ``nal``); rows go in blocks of ``ROW_BLOCK``, tree by tree, so a tree's
tables stay in cache. Kernels are serial, ``nogil``: the compute pool runs one chunk per thread
(never a ``parallel=True`` kernel from several threads).
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["TABLE_ROWS_PER_PATTERN", "TABLE_BUDGET", "LeafPaths", "leaf_paths", "contributions"]

#: tabulate a leaf when the rows to score are at least this many per one-fraction pattern
TABLE_ROWS_PER_PATTERN = 8
#: at most this many tabulated values (float64) per call, and at most 2^TABLE_MAX_FEATURES patterns a leaf
TABLE_BUDGET = 1 << 22
TABLE_MAX_FEATURES = 16
#: rows scored together, tree by tree
ROW_BLOCK = 256


# ---------------------------------------------------------------------------------------- kernels
@nb.njit(nogil=True, cache=True)
def _expected(nd, col, left, right, value, cover):
    """The cover-weighted mean of the leaves below ``nd`` (the tree's bias term at the root)."""
    if col[nd] < 0:
        return value[nd]
    cv = cover[nd]
    if cv <= 0:
        return value[nd]
    return (cover[left[nd]] * _expected(left[nd], col, left, right, value, cover)
            + cover[right[nd]] * _expected(right[nd], col, left, right, value, cover)) / cv


@nb.njit(nogil=True, cache=True)
def _walk_paths(tree_off, col, left, right, cover, fill, tree_leaf, leaf_node, pf_off, pf_feat, pf_z, pc_off,
                pc_node, pc_left, pc_bit, snode, sdepth, pnode, ufeat):
    """Visit every root-to-leaf path; count (``fill`` False) or write (``fill`` True) its unique features.

    IN tree_off int64[T+1], col/left/right int64[nodes], cover float64[nodes]; scratch snode, sdepth,
    pnode, ufeat int64[S] (S > the longest path + 1).
    OUT (fill) tree_leaf int64[T+1] (tree t's leaves are tree_leaf[t]..tree_leaf[t+1]-1), leaf_node
    int64[L], pf_off int64[L+1], pf_feat int64[F] (the leaf's unique features, in path order), pf_z
    float64[F] (their zero fractions), pc_off int64[L+1], pc_node int64[C] (the path's splits),
    pc_left uint8[C] (1: the path goes left there), pc_bit int64[C] (the index of the split's feature
    among the leaf's unique features).
    Returns (L, F, C): the numbers of leaves, unique path features and path splits.
    """
    nleaf = 0
    nfeat = 0
    ncond = 0
    for t in range(tree_off.shape[0] - 1):
        snode[0] = tree_off[t]
        sdepth[0] = 0
        top = 1
        while top > 0:
            top -= 1
            nd = snode[top]
            d = sdepth[top]
            if col[nd] >= 0:
                pnode[d] = nd              # every path below nd passes nd at depth d
                snode[top] = right[nd]
                sdepth[top] = d + 1
                top += 1
                snode[top] = left[nd]
                sdepth[top] = d + 1
                top += 1
                continue
            # a leaf at depth d: its path is pnode[0..d-1] (deeper entries belong to finished subtrees)
            m = 0
            for q in range(d):
                pn = pnode[q]
                child = pnode[q + 1] if q + 1 < d else nd
                f = col[pn]
                k = 0
                while k < m and ufeat[k] != f:
                    k += 1
                cv = cover[pn]
                frac = cover[child] / cv if cv > 0 else 0.0
                if k == m:
                    ufeat[m] = f
                    m += 1
                    if fill:
                        pf_feat[nfeat + k] = f
                        pf_z[nfeat + k] = frac
                elif fill:
                    pf_z[nfeat + k] = frac * pf_z[nfeat + k]
                if fill:
                    pc_node[ncond + q] = pn
                    pc_left[ncond + q] = 1 if left[pn] == child else 0
                    pc_bit[ncond + q] = k
            if fill:
                leaf_node[nleaf] = nd
                pf_off[nleaf + 1] = nfeat + m
                pc_off[nleaf + 1] = ncond + d
            nleaf += 1
            nfeat += m
            ncond += d
        if fill:
            tree_leaf[t + 1] = nleaf
    return nleaf, nfeat, ncond


@nb.njit(nogil=True, cache=True, inline="always")
def _path_weights(m, zf, of, w):
    """Extend the path ``(1, 1), (zf[1], of[1]) .. (zf[m], of[m])`` into ``w[0..m]`` (TreeSHAP's EXTEND)."""
    w[0] = 1.0
    for depth in range(1, m + 1):
        pz = zf[depth]
        po = of[depth]
        w[depth] = 0.0
        for i in range(depth - 1, -1, -1):
            w[i + 1] += po * w[i] * (i + 1) / (depth + 1)
            w[i] = pz * w[i] * (depth - i) / (depth + 1)


@nb.njit(nogil=True, cache=True, inline="always")
def _unwound_sum(zf, of, w, depth, idx):
    """The sum of the path weights with element ``idx`` unwound (TreeSHAP's UNWOUND-SUM)."""
    po = of[idx]
    pz = zf[idx]
    total = 0.0
    nxt = w[depth]
    for i in range(depth - 1, -1, -1):
        if po != 0.0:
            tmp = nxt * (depth + 1) / ((i + 1) * po)
            total += tmp
            nxt = w[i] - tmp * pz * ((depth - i) / (depth + 1))
        elif pz != 0.0:
            total += (w[i] / pz) / ((depth - i) / (depth + 1))
    return total


@nb.njit(nogil=True, cache=True, inline="always")
def _leaf_terms(m, zf, of, w, v, terms):
    """OUT terms[0..m-1]: the leaf's contribution to each of its path features (leaf value ``v``)."""
    _path_weights(m, zf, of, w)
    for k in range(1, m + 1):
        terms[k - 1] = _unwound_sum(zf, of, w, m, k) * (of[k] - zf[k]) * v


@nb.njit(nogil=True, cache=True)
def _fill_tables(value, leaf_node, pf_off, pf_z, tb_off, tab, maxm):
    """OUT tab: for each tabulated leaf (``tb_off[l] >= 0``) and pattern ``b`` (bit k: feature k's one
    fraction), the ``m`` contributions at ``tab[tb_off[l] + b * m + k]``."""
    zf = np.empty(maxm + 1)
    of = np.empty(maxm + 1)
    w = np.empty(maxm + 1)
    terms = np.empty(maxm + 1)
    zf[0] = 1.0
    of[0] = 1.0
    for leaf in range(leaf_node.shape[0]):
        base = tb_off[leaf]
        if base < 0:
            continue
        a = pf_off[leaf]
        m = pf_off[leaf + 1] - a
        for k in range(m):
            zf[k + 1] = pf_z[a + k]
        v = value[leaf_node[leaf]]
        for b in range(1 << m):
            for k in range(m):
                of[k + 1] = 1.0 if (b >> k) & 1 else 0.0
            _leaf_terms(m, zf, of, w, v, terms)
            for k in range(m):
                tab[base + b * m + k] = terms[k]


@nb.njit(nogil=True, cache=True)
def _shap_rows(X, tree_off, tree_class, tree_leaf, col, thr, nal, catp, catlen, catbits, value, leaf_node,
               pf_off, pf_feat, pf_z, pc_off, pc_node, pc_left, pc_bit, tb_off, tab, ev, maxm, maxn, out):
    """Add every tree's contributions of each row of ``X`` to ``out``.

    IN X float64[n, p] raw rows (categoricals as training level, NaN missing); tree_off int64[T+1],
    tree_class int64[T], tree_leaf int64[T+1] (the leaves of tree t are tree_leaf[t]..tree_leaf[t+1]-1);
    node arrays; the leaf paths of ``_walk_paths``; tb_off int64[L] (-1: not tabulated), tab
    float64; ev float64[T] the trees' expected values; maxm the most unique features of a path,
    maxn the most nodes of a tree.
    INOUT out float64[n, K, p + 1] (added to; the last entry of each class is the bias term).
    """
    n = X.shape[0]
    p = X.shape[1]
    T = tree_class.shape[0]
    dec = np.zeros(maxn, np.uint8)
    zf = np.empty(maxm + 1)
    of = np.empty(maxm + 1)
    w = np.empty(maxm + 1)
    terms = np.empty(maxm + 1)
    zf[0] = 1.0
    of[0] = 1.0
    # blocks of rows, tree by tree: a tree's tables stay in cache while the block's rows use them
    for b0 in range(0, n, ROW_BLOCK):
        b1 = min(n, b0 + ROW_BLOCK)
        for t in range(T):
            for i in range(b0, b1):
                r0 = tree_off[t]
                for nd in range(r0, tree_off[t + 1]):
                    c = col[nd]
                    if c >= 0:                  # kernels.predict_trees' routing, written out: faster than a call
                        v = X[i, c]
                        if math.isnan(v):
                            g = nal[nd]
                        elif catp[nd] >= 0:
                            lv = int(v)
                            g = nal[nd] if (lv < 0 or lv >= catlen[nd]) else catbits[catp[nd] + lv]
                        else:
                            g = np.uint8(1) if v < thr[nd] else np.uint8(0)
                        dec[nd - r0] = g
                k_cls = tree_class[t]
                for leaf in range(tree_leaf[t], tree_leaf[t + 1]):
                    a = pf_off[leaf]
                    m = pf_off[leaf + 1] - a
                    base = tb_off[leaf]
                    if base >= 0:
                        off = 0                 # the bits of the features whose splits the row does not follow
                        for q in range(pc_off[leaf], pc_off[leaf + 1]):
                            off |= np.int64(dec[pc_node[q] - r0] ^ pc_left[q]) << pc_bit[q]
                        row = base + (((1 << m) - 1) & ~off) * m
                        for k in range(m):
                            out[i, k_cls, pf_feat[a + k]] += tab[row + k]
                    else:
                        for k in range(m):
                            zf[k + 1] = pf_z[a + k]
                            of[k + 1] = 1.0
                        for q in range(pc_off[leaf], pc_off[leaf + 1]):
                            if dec[pc_node[q] - r0] != pc_left[q]:
                                of[pc_bit[q] + 1] = 0.0
                        _leaf_terms(m, zf, of, w, value[leaf_node[leaf]], terms)
                        for k in range(m):
                            out[i, k_cls, pf_feat[a + k]] += terms[k]
                out[i, k_cls, p] += ev[t]


# ----------------------------------------------------------------------------------- orchestration
class LeafPaths:
    """A model's root-to-leaf paths reduced to unique features (built once per scoring call)."""

    __slots__ = ("tree_leaf", "leaf_node", "pf_off", "pf_feat", "pf_z", "pc_off", "pc_node", "pc_left", "pc_bit",
                 "ev", "maxm", "maxn")


def _arr(payload, key, dtype):
    return np.ascontiguousarray(payload[key], dtype)


def leaf_paths(payload: dict) -> LeafPaths:
    """The unique-feature paths of every leaf of the trees in ``payload`` (model arrays)."""
    tree_off = _arr(payload, "tree_off", np.int64)
    col = _arr(payload, "col", np.int64)
    left = _arr(payload, "left", np.int64)
    right = _arr(payload, "right", np.int64)
    cover = _arr(payload, "cover", np.float64)
    value = _arr(payload, "value", np.float64)
    T = tree_off.shape[0] - 1
    sizes = np.diff(tree_off)
    maxn = int(sizes.max()) if T else 1
    S = maxn + 2                          # no path is longer than its tree has nodes
    snode, sdepth, pnode, ufeat = (np.zeros(S, np.int64) for _ in range(4))
    e64, ef, e8 = np.zeros(1, np.int64), np.zeros(1), np.zeros(1, np.uint8)
    nleaf, nfeat, ncond = _walk_paths(tree_off, col, left, right, cover, False, e64, e64, e64, e64, ef, e64, e64,
                                      e8, e64, snode, sdepth, pnode, ufeat)
    lp = LeafPaths()
    lp.tree_leaf = np.zeros(T + 1, np.int64)
    lp.leaf_node = np.zeros(nleaf, np.int64)
    lp.pf_off = np.zeros(nleaf + 1, np.int64)
    lp.pf_feat = np.zeros(max(nfeat, 1), np.int64)
    lp.pf_z = np.zeros(max(nfeat, 1))
    lp.pc_off = np.zeros(nleaf + 1, np.int64)
    lp.pc_node = np.zeros(max(ncond, 1), np.int64)
    lp.pc_left = np.zeros(max(ncond, 1), np.uint8)
    lp.pc_bit = np.zeros(max(ncond, 1), np.int64)
    _walk_paths(tree_off, col, left, right, cover, True, lp.tree_leaf, lp.leaf_node, lp.pf_off, lp.pf_feat, lp.pf_z,
                lp.pc_off, lp.pc_node, lp.pc_left, lp.pc_bit, snode, sdepth, pnode, ufeat)
    lp.ev = np.array([_expected(int(tree_off[t]), col, left, right, value, cover) for t in range(T)], np.float64)
    lp.maxm = int(np.diff(lp.pf_off).max()) if nleaf else 0
    lp.maxn = maxn
    return lp


def _tables(lp: LeafPaths, value: np.ndarray, nrows: int) -> tuple[np.ndarray, np.ndarray]:
    """Tabulate the leaves whose ``2^m`` patterns ``nrows`` rows outnumber, within ``TABLE_BUDGET``."""
    m = np.diff(lp.pf_off)
    nleaf = m.shape[0]
    tb_off = np.full(nleaf, -1, np.int64)
    ok = (m <= TABLE_MAX_FEATURES) & ((np.left_shift(1, np.minimum(m, 62)) * TABLE_ROWS_PER_PATTERN) <= nrows)
    size = np.where(ok, np.left_shift(1, np.minimum(m, TABLE_MAX_FEATURES)) * m, 0)
    end = np.cumsum(size)
    take = ok & (end <= TABLE_BUDGET)
    tb_off[take] = (end - size)[take]
    total = int(end[take][-1]) if take.any() else 0
    tab = np.zeros(max(total, 1))
    if total:
        _fill_tables(value, lp.leaf_node, lp.pf_off, lp.pf_z, tb_off, tab, max(lp.maxm, 1))
    return tb_off, tab


def contributions(payload: dict, R: np.ndarray, out: np.ndarray, paths: LeafPaths | None = None) -> None:
    """Add the TreeSHAP values of raw rows ``R`` (n, p) to ``out`` (n, K, p + 1), bias term last.

    Per row and class the added values sum to the sum of that class's trees (no initial prediction,
    no tree averaging: the caller applies those).
    """
    lp = paths if paths is not None else leaf_paths(payload)
    value = _arr(payload, "value", np.float64)
    tb_off, tab = _tables(lp, value, R.shape[0])
    _shap_rows(np.ascontiguousarray(R, np.float64), _arr(payload, "tree_off", np.int64),
               _arr(payload, "tree_class", np.int64), lp.tree_leaf, _arr(payload, "col", np.int64),
               _arr(payload, "thr", np.float64), _arr(payload, "nal", np.uint8), _arr(payload, "catp", np.int64),
               _arr(payload, "catlen", np.int64), _arr(payload, "catbits", np.uint8), value, lp.leaf_node,
               lp.pf_off, lp.pf_feat, lp.pf_z, lp.pc_off, lp.pc_node, lp.pc_left, lp.pc_bit, tb_off, tab, lp.ev,
               max(lp.maxm, 1), max(lp.maxn, 1), out)

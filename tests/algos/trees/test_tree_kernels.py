"""The tree kernels against direct numpy / brute-force computations."""
from __future__ import annotations

import itertools
import math

import numpy as np

from shoal_server.algos.tree import kernels as K


def test_bin_numeric_counts_edges_at_or_below_the_value():
    rng = np.random.default_rng(1)
    edges = np.sort(rng.normal(size=30))
    x = np.concatenate([rng.normal(size=500), edges, [np.nan, -np.inf, np.inf]])
    out = np.empty(x.size, np.uint16)
    K.bin_numeric(x, edges, out)
    expect = np.searchsorted(edges, x, side="right")
    ok = ~np.isnan(x)
    assert np.array_equal(out[ok], expect[ok])
    assert out[-3] == K.NA_CODE
    # the split rule: code < t  <=>  x < edges[t - 1]
    for t in (1, 7, 30):
        assert np.array_equal((out[ok] < t), x[ok] < edges[t - 1])



def _level_hist(codes, cols, nid, active, slot_of_node, gq, hq, wq, lo, hi, nbin, off, hist, build=None):
    """``kernels.level_histograms`` with no splits to apply (the first level of a tree)."""
    none_i, none_u = np.zeros(0, np.int32), np.zeros(0, np.uint8)
    if build is None:
        build = np.ones(lo.shape, np.uint8)
    K.level_histograms(codes, cols, nid, active, np.zeros(0, np.int32), np.zeros(0, np.int64),
                       np.zeros(0, np.int64), none_u, none_u, np.zeros((0, 1), np.uint8), none_i, none_i,
                       slot_of_node, lo.shape[0], build, gq, hq, wq, lo, hi, nbin, off, hist)


def test_histograms_put_each_row_in_its_leaf_and_adaptive_bin():
    rng = np.random.default_rng(2)
    n, p, F = 3000, 3, 64
    codes = rng.integers(0, F, size=(p, n)).astype(np.uint16)
    codes[1, rng.random(n) < 0.1] = K.NA_CODE
    nid = rng.integers(0, 5, n).astype(np.int32)
    active = (rng.random(n) < 0.8).astype(np.uint8)
    gq = rng.integers(-1000, 1000, n).astype(np.int64)
    hq = rng.integers(0, 1000, n).astype(np.int64)
    wq = rng.integers(1, 5, n).astype(np.int64)
    slot_of_node = np.array([-1, 0, -1, 1, -1], np.int32)   # nodes 1 and 3 are open
    cols = np.array([0, 1, 2], np.int64)
    lo = np.array([[0, 0, 10], [5, 0, 0]], np.int64)
    hi = np.array([[64, 64, 50], [37, 64, 64]], np.int64)
    nbin = np.array([[20, 64, 7], [32, 5, 64]], np.int64)
    off = np.zeros((2, 3), np.int64)
    total = 0
    for s in range(2):
        for j in range(3):
            off[s, j] = total
            total += nbin[s, j] + 1
    # restrict rows of each open node to its code range (as the splits guarantee)
    for s, nd in ((0, 1), (1, 3)):
        rows = nid == nd
        for j in range(3):
            c = codes[j, rows]
            fix = (c != K.NA_CODE) & ((c < lo[s, j]) | (c >= hi[s, j]))
            c[fix] = lo[s, j]
            codes[j, rows] = c
    hist = np.zeros((total, 3), np.int64)
    _level_hist(codes, cols, nid, active, slot_of_node, gq, hq, wq, lo, hi, nbin, off, hist)
    for s, nd in ((0, 1), (1, 3)):
        for j in range(3):
            B = nbin[s, j]
            for b in range(B + 1):
                rows = (nid == nd) & (active == 1)
                c = codes[j].astype(np.int64)
                if b == B:
                    rows &= codes[j] == K.NA_CODE
                else:  # bin b holds codes lo + ceil(b*span/B) .. lo + ceil((b+1)*span/B) - 1
                    span = hi[s, j] - lo[s, j]
                    a = lo[s, j] + -(-b * span // B)
                    e = lo[s, j] + -(-(b + 1) * span // B)
                    rows &= (codes[j] != K.NA_CODE) & (c >= a) & (c < e)
                k = off[s, j] + b
                assert hist[k, 0] == gq[rows].sum() and hist[k, 1] == hq[rows].sum() and hist[k, 2] == wq[rows].sum()


def _gain(G, H):
    return G * G / H if H > 0 else 0.0


def _run_find(hist, iscat, nbins, min_rows=1.0, mono=None, rand_cut=None):
    m = len(nbins)
    off = np.zeros((1, m), np.int64)
    total = 0
    for j in range(m):
        off[0, j] = total
        total += nbins[j] + 1
    nb = np.asarray(nbins, np.int64).reshape(1, m)
    out_i = np.zeros((1, 3), np.int64)
    out_f = np.zeros((1, 13))
    out_cat = np.zeros((1, max(nbins)), np.uint8)
    K.find_splits(hist, off, nb, np.asarray(iscat, np.uint8), np.ones((1, m), np.uint8),
                  np.full((1, m), -1, np.int64) if rand_cut is None else rand_cut,
                  np.zeros(m, np.int64) if mono is None else mono, np.array([[-np.inf, np.inf]]), min_rows, 1e-12,
                  out_i, out_f, out_cat)
    return out_i[0], out_f[0], out_cat[0]


def test_numeric_split_search_matches_brute_force_over_thresholds_and_missing_direction():
    rng = np.random.default_rng(3)
    for trial in range(20):
        B = 9
        g = rng.normal(size=B + 1)
        h = rng.uniform(0.5, 2, size=B + 1)
        wts = rng.integers(1, 6, size=B + 1).astype(float)
        if trial % 3 == 0:
            g[B] = h[B] = wts[B] = 0.0  # no missing values
        hist = np.column_stack([g, h, wts])
        G, H = g.sum(), h.sum()
        best = 0.0
        for b in range(1, B):
            for na_left in (False, True):
                L = np.zeros(B + 1, bool)
                L[:b] = True
                L[B] = na_left
                gl, hl = g[L].sum(), h[L].sum()
                gain = _gain(gl, hl) + _gain(G - gl, H - hl) - _gain(G, H)
                best = max(best, gain)
        oi, of_, _ = _run_find(hist, [0], [B])
        assert math.isclose(of_[0], best, rel_tol=1e-12, abs_tol=1e-12)


def test_categorical_split_is_the_best_subset_of_levels():
    rng = np.random.default_rng(4)
    for _ in range(10):
        B = 6
        g = rng.normal(size=B + 1)
        h = rng.uniform(0.5, 2, size=B + 1)
        wts = np.ones(B + 1)
        hist = np.column_stack([g, h, wts])
        G, H = g.sum(), h.sum()
        best = 0.0
        for mask in range(1, 2 ** (B + 1) - 1):  # every subset of levels and NA
            L = np.array([(mask >> i) & 1 for i in range(B + 1)], bool)
            gl, hl = g[L].sum(), h[L].sum()
            best = max(best, _gain(gl, hl) + _gain(G - gl, H - hl) - _gain(G, H))
        oi, of_, cat = _run_find(hist, [1], [B])
        assert math.isclose(of_[0], best, rel_tol=1e-12)
        left = cat[:B].astype(bool)
        gl = g[:B][left].sum() + (g[B] if oi[2] else 0.0)
        assert math.isclose(gl, of_[1], rel_tol=1e-12, abs_tol=1e-12)


def _best_split_reference(hist, kinds, nbins, off):
    """Plain-Python scan of one slot: every prefix of each column's scan order (numeric: bins in
    order; categorical kind 1: bins with weight sorted by G/H; kind 2: bins with weight in level
    order), missing values right then left. Returns (gain, column, left bins or None)."""
    G, H = hist[off[0]:off[0] + nbins[0] + 1, 0].sum(), hist[off[0]:off[0] + nbins[0] + 1, 1].sum()
    best = (0.0, -1, None)
    for j, (kind, B) in enumerate(zip(kinds, nbins)):
        h = hist[off[j]:off[j] + B + 1]
        if kind == 0:
            order = list(range(B))
        else:
            order = [b for b in range(B) if h[b, 2] > 0]
            if kind == 1:
                order.sort(key=lambda b: h[b, 0] / h[b, 1])
        has_na = h[B, 2] > 0
        for na_left in ((False, True) if has_na else (False,)):
            last = len(order) + (1 if has_na and not na_left and kind else 0) - 1
            for q in range(1, last + 1):
                left = order[:q]
                gl = h[left, 0].sum() + (h[B, 0] if na_left else 0.0)
                hl = h[left, 1].sum() + (h[B, 1] if na_left else 0.0)
                gain = _gain(gl, hl) + _gain(G - gl, H - hl) - _gain(G, H)
                if gain > best[0] + 1e-12:
                    bins = None
                    if kind:
                        bins = np.zeros(max(nbins), np.uint8)
                        bins[left] = 1
                        wl = h[left, 2].sum() + (h[B, 2] if na_left else 0.0)
                        # levels without rows follow the missing values (none here: the heavier side)
                        if na_left if has_na else wl >= h[:B + 1, 2].sum() - wl:
                            bins[[b for b in range(B) if h[b, 2] <= 0]] = 1
                    best = (gain, j, bins)
    return best


def test_categorical_left_bins_of_many_slots_and_columns_match_a_plain_scan():
    """Several slots and columns, levels without rows, missing values: the winning categorical's
    left bins (written once after a slot's scan) are those of a plain scan; a categorical beaten
    by a later numeric column leaves no trace in the winner's fields."""
    rng = np.random.default_rng(11)
    kinds, nbins = [1, 2, 0, 1], [8, 10, 6, 5]
    m, S = len(kinds), 40
    sizes = np.array(nbins) + 1
    off = (np.arange(S)[:, None] * sizes.sum() + np.concatenate([[0], np.cumsum(sizes)[:-1]])[None, :]).astype(np.int64)
    total = int(S * sizes.sum())
    hist = np.zeros((total, 3))
    for s in range(S):
        g_rows, h_rows = rng.normal(size=30), rng.uniform(0.5, 2, size=30)
        for j, B in enumerate(nbins):   # every column holds the same 30 rows
            b = rng.integers(0, B + 1, size=30)
            b[rng.random(30) < 0.25] = rng.integers(0, B)   # leave some levels empty
            if s % 3 == 0:
                b[b == B] = 0                                 # no missing values in some slots
            for r in range(30):
                hist[off[s, j] + b[r]] += (g_rows[r], h_rows[r], 1.0)
    out_i, out_f = np.zeros((S, 3), np.int64), np.zeros((S, 13))
    out_cat = np.full((S, max(nbins)), 7, np.uint8)
    K.find_splits(hist, off, np.tile(np.array(nbins, np.int64), (S, 1)), np.array(kinds, np.uint8),
                  np.ones((S, m), np.uint8), np.full((S, m), -1, np.int64), np.zeros(m, np.int64),
                  np.tile([-np.inf, np.inf], (S, 1)), 1.0, 1e-12, out_i, out_f, out_cat)
    won = set()
    for s in range(S):
        gain, j, bins = _best_split_reference(hist, kinds, nbins, off[s])
        assert math.isclose(out_f[s, 0], gain, rel_tol=1e-9, abs_tol=1e-12)
        assert out_i[s, 0] == j
        won.add(kinds[j])
        if kinds[j]:
            np.testing.assert_array_equal(out_cat[s], bins)
    assert won == {0, 1, 2}    # numeric, sorted and level-order categorical winners all occur


def test_min_rows_and_monotone_constraint_restrict_splits():
    g = np.array([-5.0, -4, 3, 6, 0])
    h = np.ones(5)
    w = np.array([1.0, 1, 10, 10, 0])
    hist = np.column_stack([g, h, w])
    oi, _, _ = _run_find(hist, [0], [4], min_rows=2.0)
    assert oi[0] == 0 and oi[1] == 2          # {0,1} | {2,3}: both sides hold >= 2 rows
    oi, _, _ = _run_find(hist, [0], [4], min_rows=12.0)
    assert oi[0] == -1                        # no split leaves 12 rows on both sides
    # values: left -G/H = +4.5 > right: a decreasing split; an increasing constraint forbids it
    oi, _, _ = _run_find(hist, [0], [4], mono=np.array([1]))
    assert oi[0] == -1
    oi, _, _ = _run_find(hist, [0], [4], mono=np.array([-1]))
    assert oi[0] == 0


def test_random_histogram_tries_only_the_drawn_boundary():
    g = np.array([-5.0, -4, 3, 6, 0])
    hist = np.column_stack([g, np.ones(5), np.array([1.0, 1, 1, 1, 0])])
    oi, _, _ = _run_find(hist, [0], [4], rand_cut=np.array([[3]], np.int64))
    assert oi[1] == 3


def test_row_sampling_draws_depend_only_on_the_global_row():
    a = np.empty(1000)
    K.splitmix_uniform(42, 3, 0, 1000, a)
    b = np.empty(300)
    K.splitmix_uniform(42, 3, 700, 300, b)
    assert np.array_equal(a[700:], b)
    assert 0.45 < (a < 0.5).mean() < 0.55
    c = np.empty(1000)
    K.splitmix_uniform(42, 4, 0, 1000, c)
    assert not np.array_equal(a, c)


def test_sibling_subtraction_equals_the_directly_built_histogram():
    """parent − smaller child, remapped to the larger child's bins, is that child's own histogram."""
    rng = np.random.default_rng(5)
    n, p, F = 3000, 3, 64
    codes = rng.integers(0, F, size=(p, n)).astype(np.uint16)
    codes[1, rng.random(n) < 0.1] = K.NA_CODE
    cols = np.arange(p, dtype=np.int64)
    gq, hq, wq = rng.integers(-50, 50, n), rng.integers(1, 50, n), rng.integers(1, 3, n)
    active = (rng.random(n) < 0.9).astype(np.uint8)
    # parent level: one slot; column 0 one code per bin, columns 1, 2 in 32 bins of 2 codes
    plo, phi = np.zeros((1, p), np.int64), np.full((1, p), F, np.int64)
    pnb = np.array([[F, 32, 32]], np.int64)
    poff = np.array([[0, F + 1, F + 34]], np.int64)
    prev = np.zeros((F + 67, 3), np.int64)
    _level_hist(codes, cols, np.zeros(n, np.int32), active, np.zeros(1, np.int32), gq, hq, wq,
                plo, phi, pnb, poff, prev)
    # split on column 0 at code 20: node 1 = codes < 20 (smaller), node 2 = the rest; the children use
    # 10 bins over their part of column 0 and half the parent's bins on the other columns
    nid = np.where(codes[0] < 20, 1, 2).astype(np.int32)
    lo = np.array([[0, 0, 0], [20, 0, 0]], np.int64)
    hi = np.array([[20, F, F], [F, F, F]], np.int64)
    nb = np.array([[10, 16, 16], [10, 16, 16]], np.int64)
    sizes = (nb + 1).ravel()
    off = np.concatenate([[0], np.cumsum(sizes)[:-1]]).reshape(2, p).astype(np.int64)
    son = np.array([-1, 0, 1], np.int32)
    direct = np.zeros((int(sizes.sum()), 3), np.int64)
    _level_hist(codes, cols, nid, active, son, gq, hq, wq, lo, hi, nb, off, direct)
    # the small child only; the large child builds nothing (all derivable)
    build = np.array([[1, 1, 1], [0, 0, 0]], np.uint8)
    derived = np.zeros_like(direct)
    _level_hist(codes, cols, nid, active, son, gq, hq, wq, lo, hi, nb, off, derived, build)
    assert derived[off[1, 0]:].sum() == 0
    K.derive_histograms(derived, prev, np.array([[1, 0, 0]], np.int64), lo, hi, nb, off, plo, phi, pnb, poff, build)
    np.testing.assert_array_equal(derived, direct)


def test_level_histograms_apply_splits_and_match_numpy_bins():
    """The fused level pass: rows moved by numeric and categorical splits (NA both ways), then every
    (slot, column) histogram — big slots through the code -> bin tables, small ones row by row, more
    than eight table columns — equal to np.add.at over the documented bins."""
    rng = np.random.default_rng(11)
    n, p, F = 5000, 11, 200
    codes = rng.integers(0, F, size=(p, n)).astype(np.uint16)
    codes[:, rng.random(n) < 0.05] = K.NA_CODE
    codes[3] = rng.integers(0, 6, n)      # a categorical column with 6 levels
    codes[3, rng.random(n) < 0.05] = K.NA_CODE
    cols = np.arange(p, dtype=np.int64)
    gq, hq, wq = rng.integers(-2**40, 2**40, n), rng.integers(1, 2**40, n), rng.integers(1, 3, n)
    active = (rng.random(n) < 0.9).astype(np.uint8)
    # previous level: node 0 split on column 0 at code 10 (NA left) into 1 | 2; node 2 (not split
    # here, just for the layout) ; node 1 split on categorical column 3: levels {0, 4} and NA left
    nid = np.where(codes[0] == K.NA_CODE, 1, np.where(codes[0] < 10, 1, 2)).astype(np.int32)
    split_of_node = np.array([-1, 0, 1], np.int32)
    scol = np.array([3, 5], np.int64)
    scode = np.array([0, 150], np.int64)
    snal = np.array([1, 0], np.uint8)
    scat = np.array([1, 0], np.uint8)
    catleft = np.zeros((2, 6), np.uint8)
    catleft[0, [0, 4]] = 1
    sleft = np.array([3, 5], np.int32)
    sright = np.array([4, 6], np.int32)
    # open leaves: 3 (big), 4, 5 (small: ~tiny span), 6 ; node 4 closed
    slot_of_node = np.array([-1, -1, -1, 0, -1, 1, 2], np.int32)
    S = 3
    lo = np.zeros((S, p), np.int64)
    hi = np.full((S, p), F, np.int64)
    hi[:, 3] = 6
    lo[1, 5], hi[1, 5] = 0, 150
    lo[2, 5] = 150
    hi[0, 0], hi[1, 0] = 10, F
    lo[1, 0] = lo[2, 0] = 10
    nbin = np.minimum(hi - lo, rng.integers(5, 60, size=(S, p)))
    nbin[:, 3] = 6
    nbin[2, 7] = hi[2, 7] - lo[2, 7]   # one code per bin
    nbin[:, 8] = 16                    # same range and bins in every slot: one shared code -> bin table
    build = (rng.random((S, p)) < 0.9).astype(np.uint8)
    build[:, 8] = 1
    sizes = np.where(build == 1, nbin + 1, 0).ravel()
    off = np.concatenate([[0], np.cumsum(sizes)[:-1]]).reshape(S, p).astype(np.int64)
    # expected children (numpy)
    exp_nid = nid.copy()
    c3, c5 = codes[3].astype(np.int64), codes[5].astype(np.int64)
    in1, in2 = nid == 1, nid == 2
    left1 = np.where(c3 == K.NA_CODE, True, np.isin(c3, [0, 4]))
    exp_nid[in1] = np.where(left1[in1], 3, 4)
    left2 = np.where(c5 == K.NA_CODE, False, c5 < 150)
    exp_nid[in2] = np.where(left2[in2], 5, 6)
    # a small slot (20 active rows < a quarter of its code ranges) takes the row-by-row path
    r5 = np.flatnonzero(exp_nid == 5)
    active[r5[20:]] = 0
    active[r5[:20]] = 1
    hist = np.zeros((int(sizes.sum()), 3), np.int64)
    K.level_histograms(codes, cols, nid, active, split_of_node, scol, scode, snal, scat, catleft, sleft, sright,
                       slot_of_node, S, build, gq, hq, wq, lo, hi, nbin, off, hist)
    assert np.array_equal(nid, exp_nid)
    expect = np.zeros_like(hist)
    for s, node in ((0, 3), (1, 5), (2, 6)):
        rows = np.flatnonzero((exp_nid == node) & (active == 1))
        for jj in range(p):
            if build[s, jj] == 0:
                continue
            c = codes[jj, rows].astype(np.int64)
            na = c == K.NA_CODE
            b = np.where(na, nbin[s, jj], ((c - lo[s, jj]) * nbin[s, jj]) // (hi[s, jj] - lo[s, jj]))
            for t, v in enumerate((gq, hq, wq)):
                np.add.at(expect[:, t], off[s, jj] + b, v[rows])
    np.testing.assert_array_equal(hist, expect)
    assert ((exp_nid == 3) & (active == 1)).sum() > 100 and ((exp_nid == 6) & (active == 1)).sum() > 500

"""``kernels.level_histograms`` pass layout (issue #7, session 5): plain columns (``min(code, nb)``),
table columns, per-row division, four-column and two-column passes, and the in-place first level
(one slot holding every row), each against numpy's ``np.add.at`` over the documented bins, exact
int64 equality, with splits applied in the same call (numeric and categorical), missing codes,
inactive rows, several slots, columns not built, and count packing on and off."""
from __future__ import annotations

import numpy as np
import pytest

from shoal_server.algos.tree import kernels as K

NA = K.NA_CODE


def _route_numpy(codes, nid, split_of_node, scol, scode, snal, scat, catleft, sleft, sright):
    """The documented routing: missing -> nal side; categorical: catleft by code (codes past the
    table follow the missing values); numeric: left when code < scode."""
    out = nid.copy()
    for i in range(nid.shape[0]):
        nd = nid[i]
        if nd < 0 or nd >= split_of_node.shape[0] or split_of_node[nd] < 0:
            continue
        s = split_of_node[nd]
        c = int(codes[scol[s], i])
        if c == NA:
            go = snal[s] == 1
        elif scat[s] == 1:
            go = catleft[s, c] == 1 if c < catleft.shape[1] else snal[s] == 1
        else:
            go = c < scode[s]
        out[i] = sleft[s] if go else sright[s]
    return out


def _expected(codes, cols, nid_after, active, slot_of_node, lo, hi, nbin, off, build, gq, hq, wq, total):
    """np.add.at over the documented bins: (code - lo) * nb // (hi - lo), missing -> bin nb."""
    out = np.zeros((total, 3), np.int64)
    S, m = lo.shape
    ok = (active != 0) & (nid_after >= 0) & (nid_after < slot_of_node.shape[0])
    slot = np.full(nid_after.shape[0], -1)
    slot[ok] = slot_of_node[nid_after[ok]]
    for s in range(S):
        r = np.nonzero(slot == s)[0]
        for jj in range(m):
            if build[s, jj] == 0:
                continue
            c = codes[cols[jj], r].astype(np.int64)
            b = np.where(c == NA, nbin[s, jj], ((c - lo[s, jj]) * nbin[s, jj]) // (hi[s, jj] - lo[s, jj]))
            for t, v in enumerate((gq, hq, wq)):
                np.add.at(out[:, t], off[s, jj] + b, v[r])
    return out


def _scenario(seed, n=4000, equal_weights=False):
    """Nodes 0, 1, 2 and a stopped leaf 7: this level splits node 1 on a categorical column and node 2
    on a numeric one; node 0 is not split and stays open as a small slot; node 7 has rows but no
    slot. Slots 0..3 are the children 3..6, slot 4 is node 0. The layout covers plain columns (one
    code per bin from 0: small bins go four to a pass, 1024 bins two), table columns (halvings, a
    narrowed range, bins not dividing the range, four small ones to a pass), a last plain column
    paired with a last table column, a column of the small slot binned by division, a heavy child
    building only its split column, and a column not built."""
    rng = np.random.default_rng(seed)
    # columns: 0 cat (21 levels), 1 cat (301), 2 numeric 12 codes, 3 numeric 31 codes, 4..7 numeric 1024 codes
    F = [21, 301, 12, 31, 1024, 1024, 1024, 1024]
    p = len(F)
    codes = np.empty((p, n), np.uint16)
    for j, f in enumerate(F):
        codes[j] = rng.integers(0, f, n)
        codes[j, rng.random(n) < 0.05] = NA
    nid = rng.choice(np.array([0, 1, 2, 7], np.int32), size=n, p=[0.01, 0.5, 0.44, 0.05]).astype(np.int32)
    split_of_node = np.array([-1, 0, 1, -1, -1, -1, -1, -1], np.int32)
    scol = np.array([0, 5], np.int64)
    scode = np.array([0, 400], np.int64)
    snal = np.array([1, 0], np.uint8)
    scat = np.array([1, 0], np.uint8)
    catleft = np.zeros((2, 21), np.uint8)
    catleft[0, rng.permutation(21)[:9]] = 1
    sleft = np.array([3, 5], np.int32)
    sright = np.array([4, 6], np.int32)
    slot_of_node = np.array([4, -1, -1, 0, 1, 2, 3, -1], np.int32)
    cols = np.arange(p, dtype=np.int64)
    S = 5
    lo = np.zeros((S, p), np.int64)
    hi = np.tile(np.array(F, np.int64), (S, 1))
    nbin = hi.copy()                 # plain by default: one code per bin from 0
    nbin[0, 4:8] = 64                # slot 0: four table columns of 1024 codes -> 64 bins
    nbin[2, 4] = 256                 # slot 2: a halving (table)
    hi[2, 5] = 400                   # slot 2 = node 5 (code < 400 of column 5): 400 codes -> 50 bins
    nbin[2, 5] = 50
    nbin[2, 7] = 512
    lo[3, 5] = 400                   # slot 3 = node 6: 624 codes -> 37 bins, range not at 0
    nbin[3, 5] = 37
    nbin[4, 4] = 32                  # the small slot: 1024 codes -> 32 bins, no cached table: division
    build = np.ones((S, p), np.uint8)
    build[1, :] = 0
    build[1, 0] = 1                  # a heavy child building only its split column
    build[3, 2] = 0
    sizes = (nbin + 1).ravel()
    off = np.concatenate([[0], np.cumsum(sizes)[:-1]]).reshape(S, p).astype(np.int64)
    total = int(sizes.sum())
    active = (rng.random(n) < 0.9).astype(np.uint8)
    gq = rng.integers(-2**40, 2**40, n)
    hq = rng.integers(0, 2**30, n)
    wq = np.full(n, 3, np.int64) if equal_weights else rng.integers(1, 2**20, n)
    wq = np.where(active == 1, wq, 0)
    gq = np.where(active == 1, gq, 0)
    hq = np.where(active == 1, hq, 0)
    splits = (split_of_node, scol, scode, snal, scat, catleft, sleft, sright)
    return codes, cols, nid, active, splits, slot_of_node, S, build, gq, hq, wq, lo, hi, nbin, off, total


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("pack", [False, True])
def test_level_histograms_match_numpy_over_every_pass_kind(seed, pack):
    (codes, cols, nid, active, splits, slot_of_node, S, build, gq, hq, wq, lo, hi, nbin, off,
     total) = _scenario(seed, equal_weights=pack)
    nid_after = _route_numpy(codes, nid, *splits)
    want = _expected(codes, cols, nid_after, active, slot_of_node, lo, hi, nbin, off, build, gq, hq, wq, total)
    hist = np.zeros((total, 3), np.int64)
    nid_k = nid.copy()
    args = (codes, cols, nid_k, active, *splits, slot_of_node, S, build, gq, hq, wq, lo, hi, nbin, off, hist)
    if pack:
        K.level_histograms(*args, int(active.sum()).bit_length())
    else:
        K.level_histograms(*args)
    np.testing.assert_array_equal(nid_k, nid_after)
    np.testing.assert_array_equal(hist, want)
    assert want[:, 2].sum() > 0 and (want[:, 0] != 0).sum() > 100   # the check is not vacuous


@pytest.mark.parametrize("pack", [False, True])
@pytest.mark.parametrize("all_active", [True, False])
def test_first_level_reads_codes_in_place_when_one_slot_holds_every_row(pack, all_active):
    """A tree's first level: one slot; with every row active the passes read the codes in place
    (no row order), with some rows out of the bag through the row order. Both must give numpy's
    sums, and the same sums as the rows split over two slots of one tree (the other one empty)."""
    rng = np.random.default_rng(7)
    n = 5000
    F = [21, 301, 12, 31, 7, 1024, 1024]
    p = len(F)
    codes = np.empty((p, n), np.uint16)
    for j, f in enumerate(F):
        codes[j] = rng.integers(0, f, n)
        codes[j, rng.random(n) < 0.03] = NA
    active = np.ones(n, np.uint8) if all_active else (rng.random(n) < 0.7).astype(np.uint8)
    gq = np.where(active == 1, rng.integers(-2**40, 2**40, n), 0)
    hq = np.where(active == 1, rng.integers(0, 2**30, n), 0)
    wq = np.where(active == 1, 5, 0).astype(np.int64) if pack else np.where(active == 1, rng.integers(1, 99, n), 0)
    cols = np.arange(p, dtype=np.int64)
    none_i, none_u = np.zeros(0, np.int32), np.zeros(0, np.uint8)
    no_splits = (np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int64), none_u, none_u,
                 np.zeros((0, 1), np.uint8), none_i, none_i)
    pk = (int(active.sum()).bit_length(),) if pack else ()
    results = []
    for S, slot_of_node in ((1, np.array([0], np.int32)), (2, np.array([1], np.int32))):
        lo = np.zeros((S, p), np.int64)
        hi = np.tile(np.array(F, np.int64), (S, 1))
        nbin = hi.copy()
        nbin[:, 5] = 256      # a table column in the first level as well
        build = np.ones((S, p), np.uint8)
        sizes = (nbin + 1).ravel()
        off = np.concatenate([[0], np.cumsum(sizes)[:-1]]).reshape(S, p).astype(np.int64)
        total = int(sizes.sum())
        nid = np.zeros(n, np.int32)
        want = _expected(codes, cols, nid, active, slot_of_node, lo, hi, nbin, off, build, gq, hq, wq, total)
        hist = np.zeros((total, 3), np.int64)
        K.level_histograms(codes, cols, nid, active, *no_splits, slot_of_node, S, build, gq, hq, wq, lo, hi,
                           nbin, off, hist, *pk)
        np.testing.assert_array_equal(hist, want)
        results.append(hist[off[S - 1, 0]:])
    np.testing.assert_array_equal(results[0], results[1])


def test_columns_subset_and_order_of_cols():
    """``cols`` picks and orders feature rows (column sampling): the histogram of column jj is that of
    feature row cols[jj]."""
    (codes, cols, nid, active, splits, slot_of_node, S, build, gq, hq, wq, lo, hi, nbin, off,
     total) = _scenario(11)
    perm = np.array([4, 0, 2, 6, 3, 1, 7, 5], np.int64)
    # the layout of column jj now describes feature row perm[jj]: permute the per-column layout
    lo2, hi2, nb2, b2 = lo[:, perm], hi[:, perm], nbin[:, perm], build[:, perm]
    sizes = (nb2 + 1).ravel()
    off2 = np.concatenate([[0], np.cumsum(sizes)[:-1]]).reshape(S, -1).astype(np.int64)
    total2 = int(sizes.sum())
    nid_after = _route_numpy(codes, nid, *splits)
    want = _expected(codes, perm, nid_after, active, slot_of_node, lo2, hi2, nb2, off2, b2, gq, hq, wq, total2)
    hist = np.zeros((total2, 3), np.int64)
    nid_k = nid.copy()
    K.level_histograms(codes, perm, nid_k, active, *splits, slot_of_node, S, b2, gq, hq, wq, lo2, hi2, nb2, off2,
                       hist)
    np.testing.assert_array_equal(hist, want)

"""The fast paths of the tree engine (issue #7) against direct numpy / hand computations: shift-binned
columns, count-packed hessian sums, one-pass quantization, the array-based tree buffer, vectorized
tree depths and raw thresholds."""
from __future__ import annotations

import numpy as np

from shoal_server.algos.tree import engine as E
from shoal_server.algos.tree import kernels as K
from shoal_server.algos.tree.model import trees_to_arrays, tree_depths


def _no_splits():
    none_i, none_u = np.zeros(0, np.int32), np.zeros(0, np.uint8)
    return (np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int64), none_u, none_u,
            np.zeros((0, 1), np.uint8), none_i, none_i)


def _expected(codes, rows, lo, hi, nbin, off, build, gq, hq, wq, total):
    """np.add.at over the documented bins: (code - lo) * nb // (hi - lo), missing -> bin nb."""
    out = np.zeros((total, 3), np.int64)
    for s, r in enumerate(rows):
        for jj in range(codes.shape[0]):
            if build[s, jj] == 0:
                continue
            c = codes[jj, r].astype(np.int64)
            b = np.where(c == K.NA_CODE, nbin[s, jj], ((c - lo[s, jj]) * nbin[s, jj]) // (hi[s, jj] - lo[s, jj]))
            for t, v in enumerate((gq, hq, wq)):
                np.add.at(out[:, t], off[s, jj] + b, v[r])
    return out


def _layout(rng, n, F):
    """Two open leaves (nodes 1, 2) of a tree split on column 0 at code 40; column ranges narrowed as
    the split does; bins that are shifts of the codes (one code per bin, halving, quarter) and bins that
    are not (a table column)."""
    p = 5
    codes = rng.integers(0, F, size=(p, n)).astype(np.uint16)
    codes[:, rng.random(n) < 0.07] = K.NA_CODE
    nid = np.where((codes[0] != K.NA_CODE) & (codes[0] < 40), 1, 2).astype(np.int32)
    lo = np.zeros((2, p), np.int64)
    hi = np.full((2, p), F, np.int64)
    hi[0, 0] = 40
    lo[1, 0] = 40
    # slot 0: col0 [0,40) 40 bins (identity), col1 128 -> 64 (halving), col2 128 -> 32 (quarter),
    #         col3 128 -> 20 (table), col4 128 -> 128
    # slot 1: col0 [40,128) 88 -> 22 (a quarter, range not at 0), others as slot 0
    nbin = np.array([[40, 64, 32, 20, 128], [22, 64, 32, 20, 128]], np.int64)
    build = np.ones((2, p), np.uint8)
    sizes = (nbin + 1).ravel()
    off = np.concatenate([[0], np.cumsum(sizes)[:-1]]).reshape(2, p).astype(np.int64)
    return codes, nid, lo, hi, nbin, off, build, int(sizes.sum())


def test_shift_binned_and_table_columns_match_numpy_bins():
    rng = np.random.default_rng(21)
    n, F = 6000, 128
    codes, nid, lo, hi, nbin, off, build, total = _layout(rng, n, F)
    active = (rng.random(n) < 0.85).astype(np.uint8)
    gq = rng.integers(-2**40, 2**40, n)
    hq = rng.integers(0, 2**40, n)
    wq = rng.integers(1, 9, n)
    hist = np.zeros((total, 3), np.int64)
    K.level_histograms(codes, np.arange(codes.shape[0], dtype=np.int64), nid.copy(), active, *_no_splits(),
                       np.array([-1, 0, 1], np.int32), 2, build, gq, hq, wq, lo, hi, nbin, off, hist)
    rows = [np.flatnonzero((nid == nd) & (active == 1)) for nd in (1, 2)]
    np.testing.assert_array_equal(hist, _expected(codes, rows, lo, hi, nbin, off, build, gq, hq, wq, total))


def test_packed_hessian_counts_unpack_to_the_three_sums_and_leave_other_trees_alone():
    """``pack``: every active row has one weight; a row adds hq·2^pack + 1. Two trees (classes) share one
    histogram array, as in ``tree.hist``: the second call must not touch the first one's rows."""
    rng = np.random.default_rng(22)
    n, F = 5000, 128
    codes, nid, lo, hi, nbin, off, build, total = _layout(rng, n, F)
    active = (rng.random(n) < 0.8).astype(np.uint8)
    pack = int(n).bit_length()
    wconst = 12345
    wq = np.where(active == 1, wconst, 0).astype(np.int64)
    expect = []
    hist = np.zeros((2 * total, 3), np.int64)
    for k in range(2):
        gq = rng.integers(-2**35, 2**35, n)
        hq = rng.integers(0, 2**35, n)
        nid_k = nid.copy()
        rows = [np.flatnonzero((nid_k == nd) & (active == 1)) for nd in (1, 2)]
        expect.append(_expected(codes, rows, lo, hi, nbin, off, build, gq, hq, wq, total))
        K.level_histograms(codes, np.arange(codes.shape[0], dtype=np.int64), nid_k, active, *_no_splits(),
                           np.array([-1, 0, 1], np.int32), 2, build, gq, hq, wq, lo, hi, nbin,
                           off + k * total, hist, pack)
    np.testing.assert_array_equal(hist[:total], expect[0])
    np.testing.assert_array_equal(hist[total:], expect[1])
    assert expect[1][:, 2].sum() == 5 * wconst * int(active.sum())   # five columns, every active row


def test_quantize_rows_is_the_numpy_expression_bit_for_bit():
    rng = np.random.default_rng(23)
    n = 4001
    g = rng.normal(size=n) * 3.7
    h = rng.random(n) * 0.25
    w = rng.random(n) * 2.0
    active = (rng.random(n) < 0.7).astype(np.uint8)
    sg, sh, sw = 2.0 ** 40, 2.0 ** 42, 2.0 ** 39
    gq, hq, wq = (np.empty(n, np.int64) for _ in range(3))
    K.quantize_rows(g, h, w, active, sg, sh, sw, gq, hq, wq)
    wa = np.where(active == 1, w, 0.0)
    np.testing.assert_array_equal(gq, np.rint(g * wa * sg).astype(np.int64))
    np.testing.assert_array_equal(hq, np.rint(h * wa * sh).astype(np.int64))
    np.testing.assert_array_equal(wq, np.rint(wa * sw).astype(np.int64))
    assert (gq[active == 0] == 0).all() and np.abs(gq).max() > 2 ** 40


def test_tree_scales_pack_only_equal_weights_and_keep_sums_in_int64():
    n = 800_000
    g = {"mg": np.array([0.9]), "mh": np.array([0.25]), "mw": 1.0, "minw": 1.0, "n": n, "nmax": 100_000}
    sc = E.tree_scales(g, n)
    assert sc["pack"] == (100_000).bit_length() == 17
    plain = E.quant_scale(0.25, n)
    assert sc["sh"] == [plain / 2 ** 17] and sc["sg"] == [E.quant_scale(0.9, n)]
    # worst case: every row at the largest hessian, all in one bin of one chunk: packed sum < 2^63
    worst = n * (round(0.25 * sc["sh"][0]) * 2 ** 17 + 1)
    assert worst < 2 ** 63
    assert "pack" not in E.tree_scales(dict(g, minw=0.5), n)                 # a weights column
    assert "pack" not in E.tree_scales(dict(g, nmax=2 ** 30, n=2 ** 31), 2 ** 31)  # too coarse a hessian


def test_tree_buffer_pairs_and_depths_match_a_recursive_walk():
    rng = np.random.default_rng(24)
    trees = []
    for _k in range(3):
        t = E.TreeBuffer(0)
        t.add(0.5, 10.0, 0)
        open_ = [0]
        depth = {0: 0}
        for _level in range(int(rng.integers(0, 7))):
            split = [nd for nd in open_ if rng.random() < 0.7]
            if not split:
                break
            c = len(split)
            d = depth[split[0]] + 1
            i0 = t.add_pairs(np.arange(c) + 0.25, np.full(c, 2.0), -np.arange(c) - 0.25, np.full(c, 3.0), d)
            left = i0 + 2 * np.arange(c)
            t.col[split] = 1
            t.left[split] = left
            t.right[split] = left + 1
            open_ = [int(x) for x in np.column_stack([left, left + 1]).ravel()]
            depth.update({x: d for x in open_})
        trees.append(t)
        # the buffer keeps what was added: values interleaved left, right per split
        assert t.size == len(t.col) == len(t.catbins) == len(t.value)
        inner = np.flatnonzero(t.col >= 0)
        for nd in inner.tolist():
            assert t.value[t.left[nd]] >= 0.25 and t.value[t.right[nd]] <= -0.25
            assert t.depth[t.left[nd]] == t.depth[nd] + 1
    bins = [E.ColumnBins("a", "num", 3, np.array([0.0, 1.0])), E.ColumnBins("b", "num", 3, np.array([5.0, 6.0]))]
    for t in trees:
        t.code[t.col >= 0] = 2
    arrays = trees_to_arrays(trees, bins)

    def walk(nd, d):
        if arrays["left"][nd] < 0:
            return d
        return max(walk(int(arrays["left"][nd]), d + 1), walk(int(arrays["right"][nd]), d + 1))

    expect = [walk(int(r), 0) for r in arrays["tree_off"][:-1]]
    assert tree_depths(arrays) == expect and max(expect) >= 2
    inner = arrays["col"] >= 0
    assert (arrays["thr"][inner] == 6.0).all() and (arrays["thr"][~inner] == 0.0).all()


def test_trees_to_arrays_thresholds_and_category_bitsets_in_node_order():
    t = E.TreeBuffer(0)
    t.add(0.0, 9.0, 0)
    i0 = t.add_pairs(np.array([1.0]), np.array([4.0]), np.array([2.0]), np.array([5.0]), 1)   # nodes 1, 2
    t.col[0], t.left[0], t.right[0] = 1, i0, i0 + 1          # categorical root
    t.catbins[0] = np.array([1, 0, 1], np.uint8)               # bins 0 and 2 left
    j0 = t.add_pairs(np.array([3.0, 5.0]), np.array([2.0, 2.0]), np.array([4.0, 6.0]), np.array([2.0, 3.0]), 2)
    t.col[1], t.code[1], t.left[1], t.right[1] = 0, 3, j0, j0 + 1        # numeric: x < edges[2]
    t.col[2], t.left[2], t.right[2] = 1, j0 + 2, j0 + 3                  # categorical again
    t.catbins[2] = np.array([0, 1, 0], np.uint8)
    bins = [E.ColumnBins("x", "num", 5, np.array([-1.0, 0.0, 2.5, 7.0])),
            E.ColumnBins("c", "cat", 3, None, np.array([0, 1, 2, 2], np.int32), 4)]   # 4 levels, 3 bins
    a = trees_to_arrays([t], bins)
    assert a["thr"][1] == 2.5 and a["thr"][0] == 0.0
    # node 0's bitset (levels -> bins 0,1,2,2 -> 1,0,1,1) first, then node 2's (0,1,0,0)
    assert a["catp"].tolist() == [0, -1, 4, -1, -1, -1, -1]
    assert a["catbits"].tolist() == [1, 0, 1, 1, 0, 1, 0, 0]
    assert a["catlen"].tolist() == [4, 0, 4, 0, 0, 0, 0]
    assert a["value"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_bin_numeric_guess_and_fallback_count_the_edges_at_or_below():
    """Equal-width grids (the interpolated guess), quantile-like and clustered grids (binary search),
    values on, just below and just above every edge: all equal to numpy's searchsorted."""
    rng = np.random.default_rng(25)
    grids = [np.linspace(-3.0, 3.0, 1025)[1:-1], np.sort(rng.normal(size=254)), np.array([0.5]),
             np.array([1.0, 2.0]), np.sort(np.concatenate([rng.normal(size=100), 1e-9 * rng.normal(size=100)]))]
    for edges in grids:
        x = np.concatenate([rng.normal(size=20000) * 2.0, edges, np.nextafter(edges, -np.inf),
                            np.nextafter(edges, np.inf), [np.nan, -np.inf, np.inf]])
        out = np.empty(x.size, np.uint16)
        K.bin_numeric(x, edges, out)
        ok = ~np.isnan(x)
        np.testing.assert_array_equal(out[ok], np.searchsorted(edges, x[ok], side="right"))
        assert out[-3] == K.NA_CODE

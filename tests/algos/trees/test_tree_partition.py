"""The row partition of the tree engine (issue #7, session 6): a one-tree-per-iteration GBM keeps
its rows grouped by open leaf from level to level (``kernels.partition_rows``), histograms each
leaf's rows (``partition_histograms``) and finds every row's final node at ``tree.update``
(``partition_finish``: the rows still in the partition, and a walk of the finished tree for the
out-of-bag rows). Checked against numpy over the documented routing and bins, and, whole models,
against the level-by-level path (``builder.PARTITION = False``) bit for bit on one and three nodes.
The two-rows-per-step histogram passes are checked on odd and even slot sizes."""
from __future__ import annotations

import numpy as np
import pytest

from shoal_server.algos.common import api
from shoal_server.algos.common.model import models_of
from shoal_server.algos.gbm import train_gbm
from shoal_server.algos.tree import builder
from shoal_server.algos.tree import kernels as K
from shoal_server.config import NodeConfig
from shoal_server.node import Node

from fakecluster import fake_cluster
from test_tree_fused_passes import X_, _data, _same
from test_tree_rowwise import _expected, _route_numpy
from test_tree_three_nodes import _spread
from tree_helpers import make_frame

NA = K.NA_CODE


def _codes(rng, F, n, na=0.05):
    codes = np.empty((len(F), n), np.uint16)
    for j, f in enumerate(F):
        codes[j] = rng.integers(0, f, n)
        codes[j, rng.random(n) < na] = NA
    return codes


def _layout(F, S):
    lo = np.zeros((S, len(F)), np.int64)
    hi = np.tile(np.array(F, np.int64), (S, 1))
    nbin = hi.copy()
    nbin[:, -1] = 37          # a table column (1024 codes -> 37 bins) next to plain ones
    build = np.ones((S, len(F)), np.uint8)
    sizes = (nbin + 1).ravel()
    off = np.concatenate([[0], np.cumsum(sizes)[:-1]]).reshape(S, len(F)).astype(np.int64)
    return lo, hi, nbin, build, off, int(sizes.sum())


def _splits(nnodes, rows):
    """Split arrays of ``apply_splits`` from ``rows`` = [(node, col, code, nal, cat, catleft, left, right)]."""
    split_of_node = np.full(nnodes, -1, np.int32)
    for s, r in enumerate(rows):
        split_of_node[r[0]] = s
    F = max([len(r[5]) for r in rows] + [1])
    catleft = np.zeros((len(rows), F), np.uint8)
    for s, r in enumerate(rows):
        catleft[s, :len(r[5])] = r[5]
    return (split_of_node, np.array([r[1] for r in rows], np.int64), np.array([r[2] for r in rows], np.int64),
            np.array([r[3] for r in rows], np.uint8), np.array([r[4] for r in rows], np.uint8), catleft,
            np.array([r[6] for r in rows], np.int32), np.array([r[7] for r in rows], np.int32))


@pytest.mark.parametrize("pack", [False, True])
@pytest.mark.parametrize("n", [3001, 3000])
def test_two_partitioned_levels_and_finish_match_numpy_routing(pack, n):
    """Root -> level 1 (node 0 split on a numeric column into open 1, 2) -> level 2 (node 1 split
    on a categorical column into open 3 and a closed 4; node 2 on a numeric one into open 5, 6) ->
    the last splits at tree.update (node 3 split into 7, 8; 5 and 6 stay leaves). Each level's rows
    per slot, their order, sums and histograms, and every row's final node, against numpy."""
    rng = np.random.default_rng(n + pack)
    F = [9, 40, 1024]
    codes = _codes(rng, F, n)
    active = (rng.random(n) < 0.8).astype(np.uint8)
    gq = np.where(active == 1, rng.integers(-2**40, 2**40, n), 0)
    hq = np.where(active == 1, rng.integers(0, 2**30, n), 0)
    wq = np.where(active == 1, 7 if pack else rng.integers(1, 99, n), 0).astype(np.int64)
    pk = int(active.sum()).bit_length() if pack else 0
    w = 2 if pack else 3
    cols = np.arange(len(F), dtype=np.int64)
    catl = (rng.random(40) < 0.5).astype(np.uint8)
    levels = [
        (_splits(1, [(0, 2, 500, 1, 0, [], 1, 2)]), np.array([-1, 0, 1], np.int32)),
        (_splits(3, [(1, 1, 0, 0, 1, catl, 3, 4), (2, 0, 4, 1, 0, [], 5, 6)]),
         np.array([-1, -1, -1, 0, -1, 1, 2], np.int32)),
    ]
    last = _splits(7, [(3, 2, 300, 0, 0, [], 7, 8)])
    perm = [np.empty(n, np.int32), np.empty(n, np.int32)]
    gw = [np.empty((n, w), np.int64), np.empty((n, w), np.int64)]
    beg, end, nodes, first, cur = np.zeros(1, np.int64), np.array([n], np.int64), np.zeros(1, np.int32), True, 1
    nid_ref = np.zeros(n, np.int32)
    nid = np.full(n, -9, np.int32)
    for splits, son in levels:
        nslot = int(son.max()) + 1
        dst = 1 - cur
        dbeg, dend = np.empty(nslot, np.int64), np.empty(nslot, np.int64)
        K.partition_rows(codes, perm[cur], gw[cur], beg, end, nodes, first, active, gq, hq, wq, pk, *splits, son,
                         nslot, nid, perm[dst], gw[dst], dbeg, dend)
        nid_ref = _route_numpy(codes, nid_ref, *splits)
        for s in range(nslot):
            node = int(np.flatnonzero(son == s)[0])
            want_rows = np.flatnonzero((nid_ref == node) & (active == 1))
            got = perm[dst][dbeg[s]:dend[s]]
            np.testing.assert_array_equal(np.sort(got), want_rows)      # the slot's rows, each once
            assert np.all(np.diff(got) > 0) or np.all(np.diff(got) < 0)  # in (reversed) row order
            g = gw[dst][dbeg[s]:dend[s]]                                 # their sums, position by position
            np.testing.assert_array_equal(g[:, 0], gq[got])
            np.testing.assert_array_equal(g[:, 1], hq[got] * (1 << pk) + 1 if pack else hq[got])
            if not pack:
                np.testing.assert_array_equal(g[:, 2], wq[got])
        lo, hi, nbin, build, off, total = _layout(F, nslot)
        hist = np.zeros((total, 3), np.int64)
        wc = 7 if pack else 0
        K.partition_histograms(codes, cols, perm[dst], dbeg, dend, nslot, build, lo, hi, nbin, off, gw[dst], hist, pk,
                               wc)
        want = _expected(codes, cols, nid_ref, active, son, lo, hi, nbin, off, build, gq, hq, wq, total)
        np.testing.assert_array_equal(hist, want)
        beg, end, first, cur = dbeg, dend, False, dst
        nodes = np.array([int(np.flatnonzero(son == s)[0]) for s in range(nslot)], np.int32)
    # rows that left: node 4 (closed child) hold their node already
    for node in (4,):
        r = (nid_ref == node) & (active == 1)
        assert r.any()
        np.testing.assert_array_equal(nid[r], node)
    # the finished tree in code space, for the out-of-bag rows' walk
    col = np.array([2, 1, 0, 2, -1, -1, -1, -1, -1], np.int64)
    code = np.array([500, 0, 4, 300, 0, 0, 0, 0, 0], np.int64)
    nal = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0], np.uint8)
    catp = np.array([-1, 0, -1, -1, -1, -1, -1, -1, -1], np.int64)
    left = np.array([1, 3, 5, 7, -1, -1, -1, -1, -1], np.int32)
    right = np.array([2, 4, 6, 8, -1, -1, -1, -1, -1], np.int32)
    K.partition_finish(codes, perm[cur], beg, end, nodes, False, active, *last, col, code, nal, catp, catl,
                       left, right, 0, True, nid)
    want_nid = _route_numpy(codes, nid_ref, *last)
    np.testing.assert_array_equal(nid, want_nid)
    np.testing.assert_array_equal(nid, K.route_codes(codes, col, code, nal, catp, catl, left, right, 0))
    assert set(np.unique(nid)) == {4, 5, 6, 7, 8} and (active == 0).any()


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 1001])
def test_two_row_passes_on_odd_and_even_slots(n):
    """The passes take two rows per step plus a last odd row: every slot size must give numpy's sums
    (through a row order and in place)."""
    rng = np.random.default_rng(n)
    F = [5, 12, 300, 31, 1024, 1024, 1024, 1024, 1024]
    codes = _codes(rng, F, n, na=0.1)
    cols = np.arange(len(F), dtype=np.int64)
    for pack in (False, True):
        active = np.ones(n, np.uint8)
        gq = rng.integers(-2**40, 2**40, n)
        hq = rng.integers(0, 2**30, n)
        wq = np.full(n, 3, np.int64) if pack else rng.integers(1, 99, n)
        lo, hi, nbin, build, off, total = _layout(F, 1)
        nbin[0, 4:8] = [64, 128, 20, 1024]     # four table columns and a plain one of 1024 codes
        sizes = (nbin + 1).ravel()
        off = np.concatenate([[0], np.cumsum(sizes)[:-1]]).reshape(1, len(F)).astype(np.int64)
        total = int(sizes.sum())
        want = _expected(codes, cols, np.zeros(n, np.int32), active, np.array([0], np.int32), lo, hi, nbin, off,
                         build, gq, hq, wq, total)
        pk = n.bit_length() if pack else 0
        gw = np.column_stack([gq, hq * (1 << pk) + 1] if pack else [gq, hq, wq]).astype(np.int64)
        for order in (np.arange(n, dtype=np.int32), rng.permutation(n).astype(np.int32)):
            hist = np.zeros((total, 3), np.int64)
            K.partition_histograms(codes, cols, order, np.array([0]), np.array([n]), 1, build, lo, hi, nbin, off,
                                   np.ascontiguousarray(gw[order]), hist, pk, 3)
            np.testing.assert_array_equal(hist, want)
            # a kept table space (a worker thread's, as the engine passes it) holds stale tables:
            # they are refilled, never read as they are
            stale = np.full((len(F) + 2, K.NA_CODE + 1), 5, np.int32)
            hist = np.zeros((total, 3), np.int64)
            K.partition_histograms(codes, cols, order, np.array([0]), np.array([n]), 1, build, lo, hi, nbin, off,
                                   np.ascontiguousarray(gw[order]), hist, pk, 3, None, stale)
            np.testing.assert_array_equal(hist, want)
        hist = np.zeros((total, 3), np.int64)
        none_i, none_u = np.zeros(0, np.int32), np.zeros(0, np.uint8)
        K.level_histograms(codes, cols, np.zeros(n, np.int32), active, np.zeros(0, np.int32), np.zeros(0, np.int64),
                           np.zeros(0, np.int64), none_u, none_u, np.zeros((0, 1), np.uint8), none_i, none_i,
                           np.array([0], np.int32), 1, build, gq, hq, wq, lo, hi, nbin, off, hist, pk)
        np.testing.assert_array_equal(hist, want)      # the in-place first level


# ------------------------------------------------------------------------------------ whole models
@pytest.fixture(scope="module")
def frames(node):
    d = _data(seed=31, n=4000)
    cut = 3200
    tr = make_frame(node, {k: (v[0][:cut], v[1]) if isinstance(v, tuple) else v[:cut] for k, v in d.items()},
                    chunk_rows=700, key="part_tr")
    va = make_frame(node, {k: (v[0][cut:], v[1]) if isinstance(v, tuple) else v[cut:] for k, v in d.items()},
                    chunk_rows=300, key="part_va")
    return tr, va


class _Calls:
    def __init__(self, monkeypatch):
        self.n = 0
        orig = K.partition_rows

        def wrapped(*a):
            self.n += 1
            return orig(*a)

        monkeypatch.setattr(K, "partition_rows", wrapped)


CASES = [
    {"y": "yb"},
    {"y": "yb", "sample_rate": 0.6},
    {"y": "yr", "weights_column": "w", "col_sample_rate": 0.7},
    {"y": "yb", "validation": True, "score_tree_interval": 2, "sample_rate": 0.8},
    {"y": "yb", "histogram_type": "QuantilesGlobal"},
    {"y": "yb", "histogram_type": "Random", "col_sample_rate_per_tree": 0.6},
    {"y": "yr", "min_rows": 60, "max_depth": 8},
    {"y": "yb", "monotone_constraints": {"x0": 1}},
    {"y": "yr", "distribution": "poisson_abs"},
    {"y": "ym"},
    {"y": "ym", "sample_rate": 0.7, "col_sample_rate": 0.8},
]


@pytest.mark.parametrize("extra", CASES, ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()))
def test_partitioned_model_equals_level_by_level_model(node, frames, monkeypatch, extra):
    tr, va = frames
    params = dict(dict(training_frame=tr, x=X_, ntrees=7, max_depth=5, seed=13, score_tree_interval=100), **extra)
    if params.pop("validation", False):
        params["validation_frame"] = va
    if params.get("distribution") == "poisson_abs":     # poisson needs a response >= 0
        params["distribution"] = "poisson"
        params["y"] = "w"
        params["x"] = [x for x in X_ if x != "w"]
    models = {}
    for part in (False, True):
        monkeypatch.setattr(builder, "PARTITION", part)
        calls = _Calls(monkeypatch)
        models[part] = models_of(node).get(api.train(node, "gbm", dict(params)))
        assert (calls.n > 0) == part          # the partition really ran (and only when on)
    _same(models[False], models[True])


@pytest.mark.parametrize("algo,extra", [("gbm", {"y": "yr", "distribution": "laplace"}), ("drf", {"y": "yb"}),
                                        ("gbm", {"y": "ym", "cap": 3 * 3200 - 1})])
def test_partition_not_used_where_the_rows_leaves_are_needed(node, frames, monkeypatch, algo, extra):
    """Leaf refits from the rows (laplace), DRF (deep trees: the walks of its out-of-bag rows cost
    more than the partition saves) and multinomial models over the memory cap keep the
    level-by-level routing."""
    extra = dict(extra)
    if "cap" in extra:
        monkeypatch.setattr(builder, "PARTITION_MAX_CLASS_ROWS", extra.pop("cap"))
    tr, _ = frames
    monkeypatch.setattr(builder, "PARTITION", True)
    calls = _Calls(monkeypatch)
    m = models_of(node).get(api.train(node, algo, dict(training_frame=tr, x=X_, ntrees=3, max_depth=4, seed=2,
                                                      **extra)))
    assert m.output["ntrees"] == 3
    assert calls.n == 0


def test_multinomial_trees_that_stop_early_get_their_rows_nodes(node, frames, monkeypatch):
    """Multinomial: one class's tree can run out of open leaves while the others grow on; its last
    splits then come with the others' next level (``engine._partition_close``). Same model as the
    level-by-level routing."""
    from shoal_server.algos.tree import engine
    tr, _ = frames
    params = dict(training_frame=tr, y="ym", x=X_, ntrees=6, max_depth=9, min_rows=45, seed=4, sample_rate=0.8,
                  score_tree_interval=100)
    closes = []
    orig = engine._partition_close

    def wrapped(st, sp):
        closes.append(int(sp["k"]))
        return orig(st, sp)

    monkeypatch.setattr(engine, "_partition_close", wrapped)
    models = {}
    for part in (False, True):
        monkeypatch.setattr(builder, "PARTITION", part)
        models[part] = models_of(node).get(api.train(node, "gbm", dict(params)))
    assert closes          # the path ran
    _same(models[False], models[True])


def test_checkpoint_continues_a_partitioned_model(node, frames, monkeypatch):
    tr, _ = frames
    base = dict(training_frame=tr, y="yb", x=X_, max_depth=4, seed=3, sample_rate=0.9, score_tree_interval=50)
    out = {}
    for part in (False, True):
        monkeypatch.setattr(builder, "PARTITION", part)
        first = models_of(node).get(api.train(node, "gbm", dict(base, ntrees=3)))
        out[part] = models_of(node).get(api.train(node, "gbm", dict(base, ntrees=8, checkpoint=first.key)))
    _same(out[False], out[True])


@pytest.fixture(scope="module")
def cluster():
    with fake_cluster(3, 62700) as nodes:
        yield nodes


@pytest.mark.parametrize("y,extra", [("yb", {"sample_rate": 0.7}), ("yr", {"weights_column": "w"}),
                                     ("ym", {"min_rows": 30, "max_depth": 7})])
def test_three_nodes_partitioned_equal_one_node_level_by_level(cluster, monkeypatch, y, extra):
    d = _data(seed=29, n=1500)
    key = f"part3_{y}"
    _spread(cluster, key, d, 97)
    single = Node(NodeConfig(threads=2, port=62790))
    try:
        _spread([single], key, d, 97)
        params = dict(dict(training_frame=key, y=y, x=X_, ntrees=5, max_depth=5, seed=8, score_tree_interval=100),
                      **extra)
        monkeypatch.setattr(builder, "PARTITION", True)
        three = train_gbm(cluster[1], dict(params), model_key="p3")
        monkeypatch.setattr(builder, "PARTITION", False)
        one = train_gbm(single, dict(params), model_key="p1")
    finally:
        single.close()
    _same(one, three)
    for n in cluster:
        assert not getattr(n, "_tree_sessions", {})


def test_leaf_values_added_to_predictions_and_out_of_bag_votes():
    """``tree.update``'s last step against numpy: f += value[nid]; DRF's out-of-bag sums only for
    the rows outside the bag with a positive weight."""
    rng = np.random.default_rng(3)
    n = 1001
    value = rng.normal(size=40)
    nid = rng.integers(0, 40, n).astype(np.int32)
    f0 = rng.normal(size=n)
    active = (rng.random(n) < 0.6).astype(np.uint8)
    w = np.where(rng.random(n) < 0.1, 0.0, rng.random(n))
    oob0 = rng.normal(size=n)
    f = f0.copy()
    K.add_leaf_values(value, nid, f)
    np.testing.assert_array_equal(f, f0 + value[nid])
    f, oob = f0.copy(), oob0.copy()
    K.add_leaf_values_oob(value, nid, f, active, w, oob)
    np.testing.assert_array_equal(f, f0 + value[nid])
    out = (active == 0) & (w > 0)
    np.testing.assert_array_equal(oob, np.where(out, oob0 + value[nid], oob0))
    assert out.any() and (~out).any()

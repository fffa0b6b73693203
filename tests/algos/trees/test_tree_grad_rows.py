"""``tree.grad``'s row pass (``engine._grad_rows`` and ``TreeGrad.map``) against the numpy formulas:
gradients, hessians, in-bag flags, node ids and the maxima used for the fixed-point scales."""
import zlib
from types import SimpleNamespace

import numpy as np
import pytest

from shoal_server.algos.tree import engine as E
from shoal_server.algos.tree import kernels as K_


def _data(rng, n, K, weights, nan_y=True):
    f = rng.normal(size=(K, n)) * 3.0
    off = rng.normal(size=n) * 0.5
    y = rng.integers(0, max(K, 2), n).astype(np.float64)
    if nan_y:
        y[rng.random(n) < 0.03] = np.nan
    w = rng.uniform(0.1, 3.0, n) * (rng.random(n) < 0.9) if weights else np.ones(n)
    return f, off, y, w


def _expected(kind, ncls, f, off, y, w, u, rate, g_in=None, h_in=None):
    """The numpy formulas of ``losses.gradients`` / DRF, and the maxima over the active rows."""
    K, n = f.shape
    yy = np.where(np.isnan(y), 0.0, y)
    act = (w > 0) & ((rate >= 1.0) | (u < rate) if u.size else np.ones(n, bool))
    wa = np.where(act, w, 0.0)
    if kind == 0:
        g, h = g_in.copy(), h_in.copy()
    elif kind == 1:
        g, h = ((f[0] + off) - yy)[None], np.ones((1, n))
    elif kind == 2:
        p = 1.0 / (1.0 + np.exp(-(f[0] + off)))
        g, h = (p - yy)[None], np.maximum(p * (1.0 - p), 1e-16)[None]
    elif ncls == 0:
        g, h = (-yy)[None], np.ones((1, n))
    elif ncls == 1:
        g, h = (-(yy == 1.0).astype(float))[None], np.ones((1, n))
    else:
        g = -np.stack([(yy == k).astype(float) for k in range(K)])
        h = np.ones((K, n))
    with np.errstate(invalid="ignore"):   # inf weight x zero gradient: NaN, as in the kernel
        mg = np.abs(g * wa).max(axis=1)   # NaN when one is NaN
        mh = np.abs(h * wa).max(axis=1)
    stat = [wa.max() if n else 0.0, w[act].min() if act.any() else np.inf, float(act.sum())]
    return g, h, act.astype(np.uint8), mg, mh, np.array(stat)


def _run(kind, ncls, f, off, y, w, u, rate, g_in=None, h_in=None, alias_e=False):
    K, n = f.shape
    g = np.full((K, n), 99.0) if g_in is None else g_in.copy()
    h = np.full((K, n), 99.0) if h_in is None else h_in.copy()
    e = np.zeros(0)
    if kind == 2:
        e = np.exp(-(f[0] + off))
        if alias_e:    # as TreeGrad.map: exp computed in the gradient row itself
            g[0] = e
            e = g[0]
    act = np.full(n, 7, np.uint8)
    nid = np.full((K, n), 5, np.int32)
    mg, mh, stat = np.empty(K), np.empty(K), np.empty(3)
    E._grad_rows(kind, ncls, y, f, off, e, w, u, rate, g, h, act, nid, mg, mh, stat)
    assert (nid == 0).all()
    return g, h, act, mg, mh, stat


def _same(a, b):
    np.testing.assert_array_equal(a, b)   # NaN == NaN here, and exact values


CASES = [("gaussian", 1, 0, 1), ("bernoulli", 2, 0, 1), ("drf_regression", 3, 0, 1), ("drf_binary", 3, 1, 1),
         ("drf_multiclass", 3, 3, 3), ("prefilled_one_tree", 0, 0, 1), ("prefilled_multinomial", 0, 0, 3)]


@pytest.mark.parametrize("name,kind,ncls,K", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("rate", [1.0, 0.6])
@pytest.mark.parametrize("weights", [False, True])
def test_grad_rows_match_numpy(name, kind, ncls, K, rate, weights):
    rng = np.random.default_rng(zlib.crc32(f"{name}/{rate}/{weights}".encode()))
    n = 3001
    f, off, y, w = _data(rng, n, K, weights)
    u = rng.random(n) if rate < 1.0 else np.zeros(0)
    g_in = rng.normal(size=(K, n)) if kind == 0 else None
    h_in = rng.random((K, n)) if kind == 0 else None
    got = _run(kind, ncls, f, off, y, w, u, rate, g_in, h_in)
    exp = _expected(kind, ncls, f, off, y, w, u, rate, g_in, h_in)
    for a, b in zip(got, exp):
        _same(a, b)
    if kind == 2:   # the in-place exp of TreeGrad.map gives the same bits
        for a, b in zip(_run(kind, ncls, f, off, y, w, u, rate, alias_e=True), exp):
            _same(a, b)


@pytest.mark.parametrize("kind,ncls", [(1, 0), (2, 0), (3, 0), (0, 0)])
def test_non_finite_values_make_the_maxima_nan(kind, ncls):
    rng = np.random.default_rng(11)
    n = 500
    f, off, y, w = _data(rng, n, 1, True, nan_y=False)
    g_in, h_in = rng.normal(size=(1, n)), rng.random((1, n))
    if kind == 3:
        w[10] = np.inf          # an infinite weight times a zero gradient is NaN
        y[10] = 0.0
    else:
        f[0, 10] = np.nan       # also on a row that is not in the bag (weight 0)
        w[10] = 0.0
        g_in[0, 10] = np.nan
    got = _run(kind, ncls, f, off, y, w, np.zeros(0), 1.0, g_in, h_in)
    exp = _expected(kind, ncls, f, off, y, w, np.zeros(0), 1.0, g_in, h_in)
    assert np.isnan(got[3][0]) and np.isnan(exp[3][0])
    for a, b in zip(got, exp):
        _same(a, b)


def test_no_active_row_gives_inf_min_weight_and_zero_maxima():
    n = 64
    f, off, y = np.zeros((1, n)), np.zeros(n), np.ones(n)
    got = _run(1, 0, f, off, y, np.zeros(n), np.zeros(0), 1.0)
    assert (got[2] == 0).all()
    assert got[3][0] == 0.0 and got[4][0] == 0.0
    assert list(got[5]) == [0.0, np.inf, 0.0]


@pytest.mark.parametrize("dist,K", [("bernoulli", 1), ("gaussian", 1), ("drf", 1)])
def test_tree_grad_map_matches_numpy(dist, K):
    rng = np.random.default_rng(5)
    n = 2000
    f, off, y, w = _data(rng, n, K, True)
    st = E._ChunkState()
    st.n, st.y, st.w, st.off, st.f = n, y, w, off, f.copy()
    st.g, st.h = np.zeros((K, n)), np.zeros((K, n))
    st.nid, st.active, st.row0 = np.ones((K, n), np.int32), np.zeros(n, np.uint8), 1000
    node = SimpleNamespace(_tree_sessions={"s": {0: st}})
    ctx = SimpleNamespace(node=node, check=lambda: None)
    params = {"session": "s", "dist": {"distribution": dist}, "tree": 3, "seed": 42, "sample_rate": 0.7}
    out = E.TreeGrad().map(ctx, 0, {}, params)
    u = np.empty(n)
    K_.splitmix_uniform(42, 3, 1000, n, u)
    kind = {"gaussian": 1, "bernoulli": 2, "drf": 3}[dist]
    g, h, act, mg, mh, stat = _expected(kind, 0, f, off, y, w, u, 0.7)
    _same(st.g, g)
    _same(st.h, h)
    _same(st.active, act)
    _same(out["mg"], mg)
    _same(out["mh"], mh)
    assert (out["mw"], out["minw"], out["n"]) == (stat[0], stat[1], int(stat[2]))
    assert 0.6 < out["n"] / (w > 0).sum() < 0.8

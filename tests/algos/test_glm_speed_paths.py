"""GLM speed paths that must not change a bit: the logit pass reusing the previous row's mean when
the linear predictor repeats, the column statistics without a weights column, and the response
lookup; each against the general computation it replaces."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, xlogy

from shoal_server.algos.common import design
from shoal_server.algos.common.design import compute_stats, response_values
from shoal_server.algos.glm import kernels
from shoal_server.store import codecs

from algo_helpers import make_frame


def _split_rows(n, seed):
    rng = np.random.default_rng(seed)
    sizes = [3, 5, 7]
    offs = np.cumsum([0] + sizes[:-1])
    C = np.stack([rng.integers(-1, s, n) for s in sizes], 1)
    C = np.where(C < 0, -1, C + offs).astype(np.int16)
    D = rng.normal(size=(n, 2))
    y = (rng.random(n) < 0.3).astype(float)
    y[::9] = 0.5                                         # fractional responses: the two-log formula
    w = np.ones(n)
    w[::11] = 0.0                                        # skipped rows between repeated predictors
    w[::5] = 2.0
    return C, D, sum(sizes), y, w


@pytest.mark.parametrize("start", [True, False])
def test_logit_pass_over_all_rows_equals_row_by_row(start):
    """One call (which reuses the mean and logs of a repeated linear predictor) gives the bits of one
    call per row (which cannot reuse anything): at the starting intercept every row repeats the
    previous row's predictor; at random coefficients none does."""
    C, D, d0, y, w = _split_rows(1500, 3)
    n, p = C.shape[0], d0 + D.shape[1]
    off = np.zeros(n)
    rng = np.random.default_rng(2)
    beta = np.zeros(p + 1)
    beta[0] = -0.8
    if not start:
        beta = rng.normal(0, 0.5, p + 1)
    one = [np.zeros((p + 1, p + 1)), np.zeros(p + 1), np.zeros(p + 1), np.zeros(6)]
    kernels.irls_pass_logit(C, D, d0, beta, y, w, off, True, *one)
    rows = [np.zeros((p + 1, p + 1)), np.zeros(p + 1), np.zeros(p + 1), np.zeros(6)]
    G1 = np.zeros((p + 1, p + 1))
    for i in range(n):
        G1[:] = 0.0
        kernels.irls_pass_logit(C[i:i + 1], D[i:i + 1], d0, beta, y[i:i + 1], w[i:i + 1], off[i:i + 1], True, G1,
                                rows[1], rows[2], rows[3])
        rows[0] += G1        # each G1 entry is one term (or 0): added in row order, the same sums
    iu = np.triu_indices(p + 1)
    assert np.array_equal(one[0][iu], rows[0][iu])
    for a, b in zip(one[1:], rows[1:]):
        assert np.array_equal(a, b)
    if start:      # and the sums are the IRLS sums at a constant mean (numpy, to rounding)
        mu = np.full(n, expit(beta[0]))
        keep = w > 0
        ll = xlogy(y, mu) + xlogy(1 - y, 1 - mu)
        np.testing.assert_allclose(one[3][[0, 3, 5]], [w.sum(), keep.sum(), (w * ll).sum()], rtol=1e-12)
        np.testing.assert_allclose(one[0][0, 0], (w * mu * (1 - mu)).sum(), rtol=1e-12)


def _stats_frame(node, with_missing: bool):
    rng = np.random.default_rng(7)
    n = 2500
    g = rng.integers(0, 5, n)
    x = rng.normal(3.0, 2.0, n)
    z = rng.exponential(1.0, n)
    if with_missing:
        g[::17] = -1
        x[::13] = np.nan
    y = rng.integers(0, 2, n)
    data = {"g": g, "x": x, "z": z, "y": y, "ones": np.ones(n)}
    key = f"stats_{int(with_missing)}"
    make_frame(node, key, data, chunk_rows=600, enums={"g": list("abcde"), "y": ["no", "yes"]})
    return node.catalog.get(key)


def _same(a, b):
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _same(u, v)
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b, (a, b)


@pytest.mark.parametrize("with_missing", [False, True])
def test_unit_weight_statistics_equal_the_weighted_path(node, monkeypatch, with_missing):
    """Without a weights column the statistics skip the weight arithmetic; a column of ones as weights
    takes the general path: the two agree bit for bit, and with numpy."""
    h = _stats_frame(node, with_missing)
    used = []
    orig = design._unit_stats
    monkeypatch.setattr(design, "_unit_stats", lambda *a: used.append(1) or orig(*a))
    fast = compute_stats(node, h, "y", ["g", "x", "z"], None, ["no", "yes"], interactions=[("g", "z")])
    assert used
    used.clear()
    general = compute_stats(node, h, "y", ["g", "x", "z"], "ones", ["no", "yes"], interactions=[("g", "z")])
    assert not used
    _same(fast, general)
    x = np.concatenate([codecs.decode_float64(node.chunks.get(h.key, h.col_index("x"), i)) for i in range(h.nchunks)])
    ok = ~np.isnan(x)
    assert fast["columns"]["x"]["na"] == float((~ok).sum())
    np.testing.assert_allclose(fast["columns"]["x"]["mean"], x[ok].mean(), rtol=1e-12)
    np.testing.assert_allclose(fast["columns"]["x"]["m2"], ((x[ok] - x[ok].mean()) ** 2).sum(), rtol=1e-10)


def test_response_lookup_maps_codes_to_classes():
    codes = np.array([0, 2, -1, 1, 3, 2], dtype=np.int32)
    chunk = codecs.encode("enum", codes, None)
    out = response_values(chunk, "enum", [1, -1, 0, 1])    # level 1 is not a class
    assert np.array_equal(out, [1.0, 0.0, np.nan, np.nan, 1.0, 0.0], equal_nan=True)
    plain = response_values(chunk, "enum", None)
    assert np.array_equal(plain, [0.0, 2.0, np.nan, 1.0, 3.0, 2.0], equal_nan=True)


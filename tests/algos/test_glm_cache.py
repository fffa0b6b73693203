"""GLM speed paths: the binomial/logit IRLS kernel against numpy, the Gram row order, and the
per-training cache of decoded chunk inputs (filled, used with fold masks, dropped at the end and on
failure)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, xlogy

import shoal_server.algos as algos
from shoal_server.algos.glm import builder, kernels, tasks

from algo_helpers import make_frame


def _random_split(n, sizes, seed, dtype):
    rng = np.random.default_rng(seed)
    offs = np.cumsum([0] + sizes[:-1])
    C = np.stack([rng.integers(-1, s, n) for s in sizes], 1)
    C = np.where(C < 0, -1, C + offs).astype(dtype)
    D = rng.normal(size=(n, 2))
    D[::7, 0] = 0.0                                      # exact zeros in a dense column
    y = (rng.random(n) < 0.4).astype(float)
    y[::11] = 0.25                                       # fractional responses take the two-log path
    w = rng.uniform(0.5, 2.0, n)
    w[::13] = 0.0
    off = rng.normal(0, 0.2, n)
    return C, D, y, w, off


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32])
def test_logit_pass_equals_numpy_irls_sums(dtype):
    sizes = [4, 6, 9]
    C, D, y, w, off = _random_split(3000, sizes, 5, dtype)
    n, p = C.shape[0], sum(sizes) + D.shape[1]
    d0 = sum(sizes)
    rng = np.random.default_rng(1)
    beta = rng.normal(0, 0.5, p + 1)
    X = np.zeros((n, p + 1))
    X[:, 0] = 1.0
    for k in range(C.shape[1]):
        rows = np.nonzero(C[:, k] >= 0)[0]
        X[rows, C[rows, k].astype(np.int64) + 1] = 1.0
    X[:, d0 + 1:] = D
    eta = X @ beta + off
    mu = np.clip(expit(eta), 1e-15, 1 - 1e-15)
    d = mu * (1 - mu)
    ww, z = w * d, eta - off + (y - mu) / d
    keep = w > 0
    G_ref = (X[keep] * ww[keep, None]).T @ X[keep]
    dev = 2 * (xlogy(y, np.where(y > 0, y / mu, 1.0)) + xlogy(1 - y, np.where(y < 1, (1 - y) / (1 - mu), 1.0)))
    ll = xlogy(y, mu) + xlogy(1 - y, 1 - mu)
    G, q, grad, st = np.zeros((p + 1, p + 1)), np.zeros(p + 1), np.zeros(p + 1), np.zeros(6)
    kernels.irls_pass_logit(C, D, d0, beta, y, w, off, True, G, q, grad, st)
    iu = np.triu_indices(p + 1)
    np.testing.assert_allclose(G[iu], G_ref[iu], rtol=1e-10, atol=1e-9)
    assert np.all(np.tril(G, -1) == 0)                   # the upper triangle only
    np.testing.assert_allclose(q, X[keep].T @ (ww * z)[keep], rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(grad, X[keep].T @ (w * (y - mu))[keep], rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(st, [w.sum(), (w * dev).sum(), (w * (y - mu) ** 2 / d).sum(), keep.sum(), 0.0,
                                    (w * ll).sum()], rtol=1e-10)
    # without the Gram: the same score and statistics, bit for bit
    G2, q2, grad2, st2 = np.zeros((1, 1)), np.zeros(p + 1), np.zeros(p + 1), np.zeros(6)
    kernels.irls_pass_logit(C, D, d0, beta, y, w, off, False, G2, q2, grad2, st2)
    assert np.array_equal(q, q2) and np.array_equal(grad, grad2) and np.array_equal(st, st2)
    assert not G2.any()


def test_level_order_is_numpys_lexsort():
    rng = np.random.default_rng(4)
    C = rng.integers(-1, 40, (5000, 3)).astype(np.int16)
    out = np.empty(5000, np.int64)
    kernels.level_order(C, 2, 0, 40, out)
    assert np.array_equal(out, np.lexsort((C[:, 0], C[:, 2])))


def _data(n=3000, seed=8):
    rng = np.random.default_rng(seed)
    a, b, c = rng.integers(0, 4, n), rng.integers(0, 25, n), rng.integers(0, 30, n)
    x = rng.normal(size=n)
    eta = 0.3 * x + np.linspace(-1, 1, 4)[a] + np.sin(b) * 0.5 + np.cos(c) * 0.4
    y = (rng.random(n) < expit(eta)).astype(np.int32)
    return {"a": a, "b": b, "c": c, "x": x, "y": y}


@pytest.fixture(scope="module")
def frame(node):
    enums = {"a": list("pqrs"), "b": [f"b{i}" for i in range(25)], "c": [f"c{i}" for i in range(30)],
             "y": ["N", "Y"]}
    make_frame(node, "cache_t", _data(), chunk_rows=700, enums=enums)
    return node


def _params(key, **kw):
    return dict({"training_frame": "cache_t", "y": "y", "x": ["a", "b", "c", "x"], "family": "binomial",
                 "lambda_value": 0.0, "model_id": key}, **kw)


def test_training_fills_the_cache_and_drops_it(frame, monkeypatch):
    node = frame
    seen = []
    orig = kernels.irls_pass_logit

    def spy(C, *args):
        seen.append((C.dtype, sum(len(v) for v in getattr(node, "_glm_inputs", {}).values())))
        return orig(C, *args)

    monkeypatch.setattr(kernels, "irls_pass_logit", spy)
    algos.train(node, "glm", _params("cache_m1"))
    assert len(seen) >= 3 * 5                              # several passes over the 5 chunks
    assert max(k for _, k in seen) == 5                    # every chunk cached once
    assert seen[-1][0] == np.int8 or seen[-1][0] == np.int16
    assert not getattr(node, "_glm_inputs", {})            # dropped at the end


def test_failed_training_drops_the_cache(frame, monkeypatch):
    node = frame
    calls = []
    orig = kernels.irls_pass_logit

    def failing(*args):
        calls.append(sum(len(v) for v in getattr(node, "_glm_inputs", {}).values()))
        if len(calls) > 7:
            raise RuntimeError("injected failure")
        return orig(*args)

    monkeypatch.setattr(kernels, "irls_pass_logit", failing)
    with pytest.raises(RuntimeError, match="injected failure"):
        algos.train(node, "glm", _params("cache_m2"))
    assert calls[-1] > 0                                   # the cache held chunks when it failed
    assert not getattr(node, "_glm_inputs", {})


def test_cached_fit_equals_the_uncached_fit_with_cross_validation(frame, monkeypatch):
    """Reordered cached rows and per-pass fold masks give the fit of a fresh decode every pass."""
    node = frame
    cv = {"nfolds": 3, "seed": 11, "fold_assignment": "Random", "compute_p_values": True}
    k1 = algos.train(node, "glm", _params("cache_cv1", **cv))
    monkeypatch.setattr(builder, "new_session_id", lambda: None)     # no session: no cache
    k2 = algos.train(node, "glm", _params("cache_cv2", **cv))
    m1, m2 = algos.get_model(node, k1), algos.get_model(node, k2)
    c1, c2 = m1.output["coefficients"], m2.output["coefficients"]
    assert c1.keys() == c2.keys() and len(c1) == 1 + 3 + 24 + 29 + 1
    np.testing.assert_allclose([c1[k] for k in c1], [c2[k] for k in c1], rtol=1e-9, atol=1e-11)
    cvm1 = m1.output["cross_validation_metrics"]
    cvm2 = m2.output["cross_validation_metrics"]
    np.testing.assert_allclose(cvm1["logloss"], cvm2["logloss"], rtol=1e-9)
    np.testing.assert_allclose(cvm1["auc"], cvm2["auc"], rtol=1e-9)
    assert cvm1["logloss"] != m1.output["training_metrics"]["logloss"]   # the folds were used


def test_numeric_only_fit_on_a_fresh_node_ends(tmp_path):
    """No categoricals: nothing is cached, yet the end-of-training drop runs (it once deadlocked on
    a node that had never cached anything). The slope equals numpy's least squares."""
    import threading

    from shoal_server.config import NodeConfig
    from shoal_server.node import Node

    rng = np.random.default_rng(3)
    x = rng.normal(size=200)
    y = 1.5 * x - 0.25 + rng.normal(0, 0.1, 200)
    with Node(NodeConfig(threads=2)) as fresh:
        make_frame(fresh, "num_only", {"x": x, "y": y}, chunk_rows=64)
        out = {}
        t = threading.Thread(target=lambda: out.update(key=algos.train(
            fresh, "glm", {"training_frame": "num_only", "y": "y", "x": ["x"], "family": "gaussian",
                           "lambda_value": 0.0, "model_id": "num_only_m"})), daemon=True)
        t.start()
        t.join(60)
        assert not t.is_alive(), "training did not end"
        c = algos.model_to_json(algos.models_of(fresh).get(out["key"]))["output"]["coefficients"]
    slope, icpt = np.polyfit(x, y, 1)
    np.testing.assert_allclose([c["x"], c["Intercept"]], [slope, icpt], rtol=1e-9)

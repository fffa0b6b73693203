"""The GLM pass with sparse categoricals (``irls_pass_split`` on ``expand_split``) gives the same
bits as the dense pass on ``expand``'s rows, for every family and with missing values."""
from __future__ import annotations

import numpy as np
import pytest

import shoal_server.algos as algos
from shoal_server.algos.common.design import DesignSpec, bind, expand, expand_split
from shoal_server.algos.glm import kernels

from algo_helpers import make_frame


def _data(n=500, seed=3):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 5, n)
    h = rng.integers(0, 3, n)
    x0, x1 = rng.normal(size=n), rng.normal(3, 2, size=n)
    g[::29] = -1
    x0[::31] = np.nan
    eta = 0.4 * x0 - 0.2 * x1 + np.array([0, .3, -.3, .6, -.6])[np.where(g < 0, 0, g)] + 0.2 * h
    y = (rng.random(n) < 1 / (1 + np.exp(-np.nan_to_num(eta)))).astype(np.int32)
    return {"g": g, "h": h, "x0": x0, "x1": x1, "y": y, "yc": np.nan_to_num(eta) + rng.normal(0, .3, n)}


@pytest.fixture(scope="module")
def bound(node):
    d = _data()
    enums = {"g": list("abcde"), "h": ["u", "v", "w"], "y": ["N", "Y"]}
    make_frame(node, "split_t", d, chunk_rows=97, enums=enums)
    key = algos.train(node, "glm", {"training_frame": "split_t", "y": "y", "x": ["g", "h", "x0", "x1"],
                                    "family": "binomial", "lambda_value": 0.0, "model_id": "split_m"})
    model = algos.get_model(node, key)
    header = node.catalog.get("split_t")
    binding = bind(DesignSpec.from_dict(model.spec), header, need_response=True)
    return node, header, model, binding


def _chunks(node, header, i):
    return {c: node.chunks.get(header.key, c, i) for c in range(header.ncol)}


def test_expand_split_holds_exactly_the_dense_design(bound):
    node, header, model, binding = bound
    for i in range(header.nchunks):
        ch = _chunks(node, header, i)
        X, complete = expand(model.spec, binding, ch)
        C, D, complete2 = expand_split(model.spec, binding, ch)
        d0 = X.shape[1] - D.shape[1]
        rebuilt = np.zeros_like(X)
        for k in range(C.shape[1]):
            rows = np.nonzero(C[:, k] >= 0)[0]
            rebuilt[rows, C[rows, k]] = 1.0
        rebuilt[:, d0:] = D
        assert np.array_equal(rebuilt, X) and np.array_equal(complete, complete2)


@pytest.mark.parametrize("fam,link,yname", [(1, 1, "y"), (0, 0, "yc"), (3, 2, "y")])
def test_split_pass_has_the_same_bits_as_the_dense_pass(bound, fam, link, yname):
    node, header, model, binding = bound
    rng = np.random.default_rng(7)
    p = model.arrays["beta"].shape[0] - 1
    beta = rng.normal(0, 0.3, p + 1)
    sizes = [header.starts[i + 1] - header.starts[i] for i in range(header.nchunks)]
    weights = [rng.uniform(0.5, 2, n) for n in sizes]
    yall = np.abs(np.asarray(_data()[yname], float))
    outs = []
    for split in (False, True):
        G, q, grad, st = np.zeros((p + 1, p + 1)), np.zeros(p + 1), np.zeros(p + 1), np.zeros(6)
        for i in range(header.nchunks):
            ch = _chunks(node, header, i)
            X, _ = expand(model.spec, binding, ch)
            n = X.shape[0]
            w = weights[i]
            y = yall[header.starts[i]:header.starts[i] + n]
            off = np.zeros(n)
            ww = np.zeros(n)
            args = (beta, y, w, off, fam, link, 0.0, 1.0, 1.0, True, G, q, grad, st, ww)
            if split:
                C, D, _ = expand_split(model.spec, binding, ch)
                kernels.irls_pass_split(C, D, p - D.shape[1], *args)
            else:
                kernels.irls_pass(X, *args)
        outs.append((G, q, grad, st))
    for a, b in zip(*outs):
        assert np.array_equal(a, b)
    assert np.count_nonzero(outs[0][0]) > p      # the Gram is not trivially empty


def test_split_prediction_has_the_same_bits_as_the_dense_prediction(bound):
    node, header, model, binding = bound
    rng = np.random.default_rng(9)
    beta = rng.normal(0, 0.5, model.arrays["beta"].shape[0])
    for i in range(header.nchunks):
        ch = _chunks(node, header, i)
        X, _ = expand(model.spec, binding, ch)
        C, D, _ = expand_split(model.spec, binding, ch)
        off = rng.normal(size=X.shape[0])
        a, b = np.empty(X.shape[0]), np.empty(X.shape[0])
        kernels.predict_eta(X, beta, off, a)
        kernels.predict_eta_split(C, D, X.shape[1] - D.shape[1], beta, off, b)
        assert np.array_equal(a, b)


def test_unrolled_scorer_gives_the_generic_scorers_bits_and_the_nodes_predictions(bound, tmp_path):
    import importlib.util

    from shoal_server.store import codecs

    node, header, model, _binding = bound
    src = algos.export_scorer(model)
    assert "def _predict_generic(row):" in src and "\nimport numpy" not in src  # numpy stays optional
    path = tmp_path / "unrolled.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("unrolled_scorer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    d = _data()
    g_levels, h_levels = list("abcde"), ["u", "v", "w"]
    rows = [{"g": None if d["g"][i] < 0 else g_levels[d["g"][i]], "h": h_levels[d["h"][i]],
             "x0": None if np.isnan(d["x0"][i]) else float(d["x0"][i]), "x1": float(d["x1"][i])}
            for i in range(len(d["y"]))]
    rows += [{"g": "zz", "h": 2.0, "x0": float("nan"), "x1": "1.5"}, {}]
    fast = mod.predict_rows(rows)
    assert fast == [mod._predict_generic(r) for r in rows] == [mod.predict(r) for r in rows]
    algos.predict(node, model.key, "split_t", "split_pred")
    h = node.catalog.get("split_pred")
    ci = [c.name for c in h.columns].index("Y")
    ref = np.concatenate([codecs.decode_float64(node.chunks.get(h.key, ci, i)) for i in range(h.nchunks)])
    np.testing.assert_allclose([r["Y"] for r in fast[:len(ref)]], ref, rtol=1e-12, atol=1e-12)


def test_scorer_batch_entry_point_equals_row_scoring_with_and_without_numpy(bound, tmp_path, monkeypatch):
    """predict_columns (numpy when installed, rows otherwise) gives predict()'s predictions."""
    import importlib.util
    import sys

    import pandas as pd

    _node, _header, model, _binding = bound
    path = tmp_path / "batch.py"
    path.write_text(algos.export_scorer(model))
    spec = importlib.util.spec_from_file_location("batch_scorer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    d = _data()
    g_levels, h_levels = list("abcde"), ["u", "v", "w"]
    g = [None if c < 0 else g_levels[c] for c in d["g"]] + ["zz", None]
    h = [h_levels[c] for c in d["h"]] + ["v", "w"]
    x0 = [float(v) for v in d["x0"]] + [float("nan"), 2.0]
    x1 = [float(v) for v in d["x1"]] + [1.5, None]
    rows = [{"g": a, "h": b, "x0": c, "x1": e} for a, b, c, e in zip(g, h, x0, x1)]
    want = mod.predict_rows(rows)
    names = list(want[0])
    frame = pd.DataFrame({"g": pd.Categorical(g), "h": h, "x0": x0, "x1": x1})
    for cols in (frame, {"g": g, "h": h, "x0": np.array(x0), "x1": x1}):
        got = mod.predict_columns(cols)
        assert list(got) == names
        for c in names:
            exp_c = [r[c] for r in want]
            if isinstance(exp_c[0], str):
                assert list(got[c]) == exp_c
            else:
                np.testing.assert_allclose(np.array(got[c], float), np.array(exp_c, float), rtol=1e-12,
                                           atol=1e-15, equal_nan=True)
    monkeypatch.setitem(sys.modules, "numpy", None)     # the scorer must not need numpy
    got = mod.predict_columns({"g": g, "h": h, "x0": x0, "x1": x1})
    assert got == {c: [r[c] for r in want] for c in names}

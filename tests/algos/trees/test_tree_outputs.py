"""What a trained tree model gives back: TreeSHAP contributions, leaf assignment, the standalone
scorer, save/load, histogram types and the model's tables."""
from __future__ import annotations

import types

import numpy as np
import pytest

from shoal_server.algos.common import api, persist
from shoal_server.algos.common.model import models_of
from shoal_server.algos.tree import predict_contributions, predict_leaf_node_assignment

from tree_helpers import column, frame_matrix, make_frame

LEVELS = ("a", "b", "c", "d", "e")


@pytest.fixture(scope="module")
def data(node):
    rng = np.random.default_rng(30)
    n = 2500
    X = rng.normal(size=(n, 3))
    X[rng.random(n) < 0.1, 1] = np.nan
    c = rng.integers(0, 5, n)
    score = X[:, 0] + np.array([0, 1, -1, 2, 0.5])[c] + np.nan_to_num(X[:, 1], nan=1.5) - 0.5 * X[:, 2] ** 2
    yb = (rng.random(n) < 1 / (1 + np.exp(-score))).astype(np.int32)
    ym = np.digitize(score + rng.normal(size=n) * 0.5, [-0.5, 1.0]).astype(np.int32)
    yc = rng.poisson(np.exp(0.3 * score)).astype(float)
    cols = {"x0": X[:, 0], "x1": X[:, 1], "x2": X[:, 2], "c": (c, LEVELS), "yb": (yb, ("no", "yes")),
            "ym": (ym, ("hi", "lo", "mid")), "yc": yc, "yr": score + rng.normal(size=n)}
    train = make_frame(node, cols, chunk_rows=600)
    m = 300
    Xt = rng.normal(size=(m, 3))
    Xt[rng.random(m) < 0.15, 1] = np.nan
    ct = rng.integers(0, 5, m)
    test = make_frame(node, {"x0": Xt[:, 0], "x1": Xt[:, 1], "x2": Xt[:, 2], "c": (ct, LEVELS)}, chunk_rows=128)
    return {"train": train, "test": test, "Xt": Xt, "ct": ct}


X_COLS = ["x0", "x1", "x2", "c"]
CASES = [("gbm", "yr", {}), ("gbm", "yb", {}), ("gbm", "ym", {}), ("gbm", "yc", {"distribution": "poisson"}),
         ("drf", "yb", {}), ("drf", "ym", {}), ("drf", "yr", {})]


@pytest.fixture(scope="module")
def models(node, data):
    out = {}
    for algo, y, extra in CASES:
        params = dict(training_frame=data["train"], y=y, x=X_COLS, ntrees=12, max_depth=4, seed=5, **extra)
        if algo == "drf":
            params.update(max_depth=6, min_rows=5)
        out[(algo, y)] = models_of(node).get(api.train(node, algo, params))
    return out


def _raw_from_leaves(node, model, frame):
    """init + sum of the reached leaves' values (per class), via the leaf assignment frame."""
    lh = predict_leaf_node_assignment(node, model, frame, type="Node_ID")
    L = frame_matrix(node, lh.key).astype(np.int64)
    a = model.arrays
    K = model.output["ntrees_per_iteration"]
    raw = np.zeros((L.shape[0], K))
    for t in range(L.shape[1]):
        raw[:, a["tree_class"][t]] += a["value"][a["tree_off"][t] + L[:, t]]
    if model.algo == "drf":
        return raw / model.output["ntrees"]
    return raw + np.asarray(model.output["init_f"])[None, :]


@pytest.mark.parametrize("algo,y,extra", CASES)
def test_contributions_sum_to_the_raw_prediction(node, data, models, algo, y, extra):
    m = models[(algo, y)]
    raw = _raw_from_leaves(node, m, data["test"])
    ch = predict_contributions(node, m, data["test"])
    C = frame_matrix(node, ch.key)
    K = m.output["ntrees_per_iteration"]
    assert C.shape[1] == K * 5
    names = [c.name for c in ch.columns]
    assert names[:5] == ["c", "x0", "x1", "x2", "BiasTerm"] or names[0].startswith("c")
    sums = C.reshape(-1, K, 5).sum(axis=2)
    assert np.allclose(sums, raw, rtol=0, atol=1e-9)
    # the bias term is the same for every row; an unused feature contributes nothing
    assert np.ptp(C.reshape(-1, K, 5)[:, :, 4], axis=0).max() < 1e-12
    # the prediction frame agrees with the raw scores through the link
    h = api.predict(node, m.key, data["test"])
    if m.output["model_category"] == "Binomial" and algo == "gbm":
        p1 = column(node, h.key, h.columns[2].name)
        assert np.allclose(p1, 1 / (1 + np.exp(-raw[:, 0])), rtol=1e-12, atol=1e-15)
    if y == "yr":
        assert np.allclose(column(node, h.key, "predict"), raw[:, 0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("algo,y,extra", CASES)
def test_standalone_scorer_gives_the_server_predictions(node, data, models, algo, y, extra):
    m = models[(algo, y)]
    src = api.export_scorer(m)
    assert "import numpy" not in src and "shoal" not in src.split('"""')[2][:200]
    mod = types.ModuleType("scorer_under_test")
    exec(compile(src, "scorer_under_test", "exec"), mod.__dict__)  # the generated code, not client input
    h = api.predict(node, m.key, data["test"])
    server = frame_matrix(node, h.key)
    Xt, ct = data["Xt"], data["ct"]
    for i in range(0, Xt.shape[0], 7):
        row = {"x0": Xt[i, 0], "x1": None if np.isnan(Xt[i, 1]) else Xt[i, 1], "x2": Xt[i, 2], "c": LEVELS[ct[i]]}
        out = mod.predict(row)
        if m.output["model_category"] == "Regression":
            assert out["predict"] == pytest.approx(server[i, 0], rel=1e-12, abs=1e-14)
        else:
            dom = m.output["domain"]
            assert out["predict"] == dom[int(server[i, 0])]
            for k, lv in enumerate(dom):
                assert out[lv] == pytest.approx(server[i, 1 + k], rel=1e-12, abs=1e-14)
    # an unseen level counts as missing, as on the server
    out = mod.predict({"x0": 0.1, "x1": 0.2, "x2": 0.3, "c": "zzz"})
    assert out["predict"] is not None


def test_save_and_load_keep_predictions(node, data, models, tmp_path):
    m = models[("gbm", "ym")]
    path = str(tmp_path / "m.shoal")
    persist.save_model(m, path)
    loaded = api.load_model(node, path, model_id="reloaded_gbm")
    for k in m.arrays:
        assert np.array_equal(loaded.arrays[k], m.arrays[k])
    a = frame_matrix(node, api.predict(node, m.key, data["test"]).key)
    b = frame_matrix(node, api.predict(node, "reloaded_gbm", data["test"]).key)
    assert np.array_equal(a, b)
    assert api.export_scorer(loaded).split("\n", 3)[3] == api.export_scorer(m).split("\n", 3)[3]


@pytest.mark.parametrize("htype", ["UniformAdaptive", "QuantilesGlobal", "Random"])
def test_histogram_types_train_useful_models(node, data, htype):
    m = models_of(node).get(api.train(node, "gbm", dict(training_frame=data["train"], y="yr", x=X_COLS, ntrees=15,
                                                        histogram_type=htype, nbins=16, nbins_cats=3, seed=2)))
    assert m.output["histogram_type"] == htype
    assert m.output["training_metrics"]["r2"] > (0.3 if htype == "Random" else 0.5)
    cat = np.flatnonzero(m.arrays["catp"] >= 0)
    assert np.all(m.arrays["catlen"][cat] == 5)     # bitsets cover every level even when grouped in 3 bins


def test_model_tables(node, models):
    m = models[("gbm", "yb")]
    vi = m.output["variable_importances"]
    rows = vi.get("data") or vi.get("rows")
    assert sorted(r[0] for r in rows) == ["c", "x0", "x1", "x2"]
    assert rows[0][2] == 1.0 and abs(sum(r[3] for r in rows) - 1.0) < 1e-12
    sh = m.output["scoring_history"]
    assert len(sh.get("data") or sh.get("rows")) >= 5
    assert m.output["default_threshold"] is not None
    assert m.output["training_metrics"]["auc"] > 0.7


def test_leaf_assignment_paths_name_the_reached_leaf(node, data, models):
    m = models[("gbm", "ym")]
    ids = frame_matrix(node, predict_leaf_node_assignment(node, m, data["test"], type="Node_ID").key).astype(int)
    ph = predict_leaf_node_assignment(node, m, data["test"])
    assert [c.name for c in ph.columns][:4] == ["T1.C1", "T1.C2", "T1.C3", "T2.C1"]
    a = m.arrays
    for t in (0, 5, 35):
        codes = column(node, ph.key, ph.columns[t].name).astype(int)
        dom = ph.columns[t].domain
        base = int(a["tree_off"][t])
        for i in range(0, len(codes), 37):
            nd = base                      # walk the path from the root: it must end at the reached leaf
            for step in dom[codes[i]]:
                nd = int(a["left"][nd] if step == "L" else a["right"][nd])
            assert nd - base == ids[i, t] and a["col"][nd] == -1

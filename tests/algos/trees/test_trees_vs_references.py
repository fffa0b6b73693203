"""GBM / DRF against LightGBM and H2O-3 on continuous features (``tree_reference_data.py``).

LightGBM runs here; the H2O-3 numbers in ``h2o_tree_reference.json`` were computed by H2O-3
3.46.0.12 itself on the same data and settings with ``make_h2o_tree_reference.py`` (not by Shoal).
"""
from __future__ import annotations

import json
import os

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from shoal_server.algos.common import api
from shoal_server.algos.common.model import models_of

from tree_helpers import column, make_frame
from tree_reference_data import LEVELS, NTRAIN, reference_data

HERE = os.path.dirname(os.path.abspath(__file__))
NUMS = ["x0", "x1", "x2", "x3", "x4"]


@pytest.fixture(scope="module")
def ref(node):
    d = reference_data()
    tr, te = slice(0, NTRAIN), slice(NTRAIN, None)

    def frame(s):
        cols = {f"x{j}": d["X"][s, j] for j in range(5)}
        cols.update(c=(d["c"][s], LEVELS), yb=(d["yb"][s], ("n0", "n1")), yr=d["yr"][s])
        return make_frame(node, cols, chunk_rows=4000)

    return dict(d, tr=tr, te=te, train=frame(tr), test=frame(te))


def _fit(node, algo, **params):
    return models_of(node).get(api.train(node, algo, params))


def _tree_splits(a, t):
    lo, hi = int(a["tree_off"][t]), int(a["tree_off"][t + 1])
    return sorted((int(c), float(v)) for c, v in zip(a["col"][lo:hi], a["thr"][lo:hi]) if c >= 0)


def _lgb_splits(node_json, out):
    if "split_feature" in node_json:
        out.append((int(node_json["split_feature"]), float(node_json["threshold"])))
        _lgb_splits(node_json["left_child"], out)
        _lgb_splits(node_json["right_child"], out)
    return out


def test_quantiles_global_matches_lightgbm_on_continuous_features(node, ref):
    """Same bins (LightGBM's greedy binning, max_bin = nbins = 255), same trees, AUC within 0.003."""
    m = _fit(node, "gbm", training_frame=ref["train"], y="yb", x=NUMS, ntrees=40, max_depth=4, min_rows=10,
             learn_rate=0.1, nbins=255, histogram_type="QuantilesGlobal", min_split_improvement=0.0, seed=1)
    p = column(node, api.predict(node, m.key, ref["test"]).key, "n1")
    X, yb, tr, te = ref["X"], ref["yb"], ref["tr"], ref["te"]
    b = lgb.train(dict(objective="binary", num_leaves=1024, max_depth=4, min_data_in_leaf=10, learning_rate=0.1,
                       max_bin=255, min_data_in_bin=1, min_sum_hessian_in_leaf=1e-10, lambda_l2=0.0,
                       min_gain_to_split=0.0, verbose=-1, num_threads=1, deterministic=True),
                  lgb.Dataset(X[tr], yb[tr]), 40)
    ours, theirs = roc_auc_score(yb[te], p), roc_auc_score(yb[te], b.predict(X[te]))
    assert abs(ours - theirs) < 0.003, (ours, theirs)
    # the first tree is LightGBM's: the same features and thresholds (LightGBM's bin upper bound u
    # is the engine's edge nextafter(u): x <= u  <=>  x < nextafter(u))
    theirs_splits = sorted((f, float(np.nextafter(t, np.inf)))
                           for f, t in _lgb_splits(b.dump_model()["tree_info"][0]["tree_structure"], []))
    ours_splits = _tree_splits(m.arrays, 0)
    assert [f for f, _ in ours_splits] == [f for f, _ in theirs_splits]
    np.testing.assert_allclose([t for _, t in ours_splits], [t for _, t in theirs_splits], rtol=1e-15, atol=0)


@pytest.fixture(scope="module")
def h2o_ref():
    with open(os.path.join(HERE, "h2o_tree_reference.json")) as f:
        return json.load(f)


H2O_GBM = dict(ntrees=50, max_depth=5, learn_rate=0.1, min_rows=10, nbins=20, nbins_top_level=1024,
               histogram_type="UniformAdaptive", seed=1)


def test_gbm_matches_h2o_on_continuous_features(node, ref, h2o_ref):
    x = NUMS + ["c"]
    te = ref["te"]
    mb = _fit(node, "gbm", training_frame=ref["train"], y="yb", x=x, **H2O_GBM)
    auc = roc_auc_score(ref["yb"][te], column(node, api.predict(node, mb.key, ref["test"]).key, "n1"))
    assert abs(auc - h2o_ref["gbm_bernoulli"]["auc"]) < 0.003, (auc, h2o_ref["gbm_bernoulli"])
    mr = _fit(node, "gbm", training_frame=ref["train"], y="yr", x=x, **H2O_GBM)
    pr = column(node, api.predict(node, mr.key, ref["test"]).key, "predict")
    rmse = float(np.sqrt(np.mean((pr - ref["yr"][te]) ** 2)))
    assert abs(rmse - h2o_ref["gbm_gaussian"]["rmse"]) < 0.003, (rmse, h2o_ref["gbm_gaussian"])


def test_drf_matches_h2o_on_continuous_features(node, ref, h2o_ref):
    m = _fit(node, "drf", training_frame=ref["train"], y="yb", x=NUMS + ["c"], ntrees=50, max_depth=12,
             min_rows=5, nbins=20, seed=1)
    auc = roc_auc_score(ref["yb"][ref["te"]], column(node, api.predict(node, m.key, ref["test"]).key, "n1"))
    assert abs(auc - h2o_ref["drf_binomial"]["auc"]) < 0.003, (auc, h2o_ref["drf_binomial"])

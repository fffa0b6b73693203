"""DRF: accuracy against scikit-learn's random forest, out-of-bag metrics, double trees, mtries."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import roc_auc_score

from shoal_server.algos.common import api
from shoal_server.algos.common.model import models_of

from tree_helpers import column, make_frame

FEATURES = [f"x{j}" for j in range(6)]


@pytest.fixture(scope="module")
def data(node):
    rng = np.random.default_rng(20)
    n = 4000
    X = rng.normal(size=(n, 6))
    score = 1.5 * X[:, 0] - X[:, 1] + np.sin(2 * X[:, 2]) + X[:, 3] * X[:, 4]
    yb = (rng.random(n) < 1 / (1 + np.exp(-score))).astype(np.int32)
    yr = score + 0.5 * rng.normal(size=n)
    tr, te = slice(0, 3000), slice(3000, n)

    def frame(s):
        cols = {f"x{j}": X[s, j] for j in range(6)}
        cols.update(yr=yr[s], yb=(yb[s], ("0", "1")))
        return make_frame(node, cols)

    return {"X": X, "yb": yb, "yr": yr, "tr": tr, "te": te, "train": frame(tr), "test": frame(te)}


def _train(node, **params):
    return models_of(node).get(api.train(node, "drf", dict(dict(ntrees=20, seed=1), **params)))


def test_binomial_forest_auc_close_to_scikit_learn(node, data):
    m = _train(node, training_frame=data["train"], y="yb", x=FEATURES, max_depth=10, min_rows=2)
    h = api.predict(node, m.key, data["test"])
    p = column(node, h.key, "p1")
    te, tr = data["te"], data["tr"]
    rf = RandomForestClassifier(n_estimators=20, max_depth=10, min_samples_leaf=2, max_features="sqrt",
                                max_samples=0.632, random_state=1, n_jobs=1).fit(data["X"][tr], data["yb"][tr])
    ours = roc_auc_score(data["yb"][te], p)
    theirs = roc_auc_score(data["yb"][te], rf.predict_proba(data["X"][te])[:, 1])
    assert abs(ours - theirs) < 0.02, (ours, theirs)
    assert m.output["ntrees_per_iteration"] == 1
    # training metrics are out-of-bag: close to the test AUC, far below the in-sample AUC
    oob = m.output["training_metrics"]["auc"]
    assert abs(oob - ours) < 0.06
    pin = column(node, api.predict(node, m.key, data["train"]).key, "p1")
    assert roc_auc_score(data["yb"][tr], pin) > oob + 0.03


def test_regression_forest_rmse_close_to_scikit_learn(node, data):
    m = _train(node, training_frame=data["train"], y="yr", x=FEATURES, max_depth=10, min_rows=3, mtries=2)
    p = column(node, api.predict(node, m.key, data["test"]).key, "predict")
    te, tr = data["te"], data["tr"]
    rf = RandomForestRegressor(n_estimators=20, max_depth=10, min_samples_leaf=3, max_features=2, max_samples=0.632,
                               random_state=1, n_jobs=1).fit(data["X"][tr], data["yr"][tr])
    ours = np.sqrt(np.mean((p - data["yr"][te]) ** 2))
    theirs = np.sqrt(np.mean((rf.predict(data["X"][te]) - data["yr"][te]) ** 2))
    assert ours < theirs * 1.05, (ours, theirs)
    assert m.output["training_metrics"]["rmse"] == pytest.approx(ours, rel=0.1)


def test_binomial_double_trees_grow_one_tree_per_class(node, data):
    m = _train(node, training_frame=data["train"], y="yb", x=FEATURES, binomial_double_trees=True, ntrees=10,
               max_depth=8)
    assert m.output["ntrees_per_iteration"] == 2 and len(m.arrays["tree_class"]) == 20
    h = api.predict(node, m.key, data["test"])
    p0, p1 = column(node, h.key, "p0"), column(node, h.key, "p1")
    assert np.allclose(p0 + p1, 1.0)
    assert roc_auc_score(data["yb"][data["te"]], p1) > 0.8


def test_forest_prediction_is_the_mean_of_its_trees(node, data):
    m = _train(node, training_frame=data["train"], y="yr", x=FEATURES, ntrees=5, max_depth=5)
    from shoal_server.algos.tree import predict_leaf_node_assignment
    lh = predict_leaf_node_assignment(node, m, data["test"], type="Node_ID")
    leaves = np.column_stack([column(node, lh.key, f"T{t + 1}") for t in range(5)]).astype(np.int64)
    offs = m.arrays["tree_off"]
    vals = np.column_stack([m.arrays["value"][offs[t] + leaves[:, t]] for t in range(5)])
    p = column(node, api.predict(node, m.key, data["test"]).key, "predict")
    assert np.allclose(vals.mean(axis=1), p, rtol=1e-12, atol=1e-12)


def test_cross_validation_scores_each_row_with_the_model_that_did_not_see_it(node, data):
    m = models_of(node).get(api.train(node, "gbm", dict(training_frame=data["train"], y="yb", x=FEATURES, ntrees=10,
                                                        max_depth=3, nfolds=3, seed=4)))
    cv = m.output["cross_validation_metrics"]
    test_auc = roc_auc_score(data["yb"][data["te"]],
                             column(node, api.predict(node, m.key, data["test"]).key, "p1"))
    assert abs(cv["auc"] - test_auc) < 0.03
    assert cv["auc"] < m.output["training_metrics"]["auc"]
    summary = m.output["cross_validation_metrics_summary"]
    cols = summary.get("columns") or summary.get("cols")
    assert len(cols) == 6   # metric, mean, sd, and one column per fold
    d = models_of(node).get(api.train(node, "drf", dict(training_frame=data["train"], y="yr", x=FEATURES, ntrees=8,
                                                        max_depth=6, nfolds=2, fold_assignment="Modulo", seed=4)))
    assert d.output["cross_validation_metrics"]["rmse"] > 0

"""GBM: agreement with LightGBM on the same data and settings, the distributions, sampling,
determinism, constraints, early stopping, checkpoints, weights and offsets."""
from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from shoal_server.algos.common import api
from shoal_server.algos.common.model import models_of
from shoal_server.errors import InvalidParameter

from tree_helpers import column, make_frame

FEATURES = [f"x{j}" for j in range(5)]
COMMON = dict(ntrees=40, max_depth=4, min_rows=10, learn_rate=0.1, nbins=255, histogram_type="QuantilesGlobal",
              min_split_improvement=0.0, seed=1)
LGB = dict(num_leaves=1024, max_depth=4, min_data_in_leaf=10, learning_rate=0.1, max_bin=255, min_data_in_bin=1,
           min_sum_hessian_in_leaf=1e-10, lambda_l2=0.0, min_gain_to_split=0.0, verbose=-1, num_threads=1,
           deterministic=True)


def _data(n=5000, seed=0):
    """Integer-valued features (one with missing values): both libraries bin each value apart."""
    rng = np.random.default_rng(seed)
    X = np.floor(rng.normal(size=(n, 5)) * 8)
    X[rng.random(n) < 0.05, 2] = np.nan
    Z = X / 8
    score = 1.5 * Z[:, 0] - np.nan_to_num(Z[:, 2], nan=1.0) + np.sin(2 * Z[:, 1]) + 0.5 * Z[:, 3] * Z[:, 4]
    return X, score, rng


@pytest.fixture(scope="module")
def data(node):
    X, score, rng = _data()
    n = X.shape[0]
    yb = (rng.random(n) < 1 / (1 + np.exp(-score))).astype(np.int32)
    yr = score + 0.5 * rng.normal(size=n)
    ym = np.digitize(score + 0.7 * rng.normal(size=n), [-0.7, 0.7]).astype(np.int32)
    yc = rng.poisson(np.exp(0.4 * score)).astype(float)
    yg = rng.gamma(2.0, np.exp(0.3 * score) / 2.0)
    tr, te = slice(0, 3500), slice(3500, n)

    def frame(s):
        cols = {f"x{j}": X[s, j] for j in range(5)}
        cols.update(yr=yr[s], yc=yc[s], yg=yg[s], yb=(yb[s], ("0", "1")), ym=(ym[s], ("a", "b", "c")))
        return make_frame(node, cols)

    return {"X": X, "tr": tr, "te": te, "yb": yb, "yr": yr, "ym": ym, "yc": yc, "yg": yg,
            "train": frame(tr), "test": frame(te)}


def _train(node, **params):
    key = api.train(node, "gbm", dict(COMMON, **params))
    return models_of(node).get(key)


def _predict(node, model, frame, col):
    h = api.predict(node, model.key, frame)
    return column(node, h.key, col)


def test_gaussian_rmse_matches_lightgbm(node, data):
    m = _train(node, training_frame=data["train"], y="yr", x=FEATURES)
    p = _predict(node, m, data["test"], "predict")
    te, tr = data["te"], data["tr"]
    b = lgb.train(dict(LGB, objective="regression"), lgb.Dataset(data["X"][tr], data["yr"][tr]), 40)
    ours = np.sqrt(np.mean((p - data["yr"][te]) ** 2))
    theirs = np.sqrt(np.mean((b.predict(data["X"][te]) - data["yr"][te]) ** 2))
    assert abs(ours - theirs) < 0.003, (ours, theirs)
    # training metrics of the model are those of its own predictions on the training frame
    ptr = _predict(node, m, data["train"], "predict")
    assert m.output["training_metrics"]["rmse"] == pytest.approx(np.sqrt(np.mean((ptr - data["yr"][tr]) ** 2)),
                                                                 rel=1e-9)


def test_bernoulli_auc_matches_lightgbm(node, data):
    m = _train(node, training_frame=data["train"], y="yb", x=FEATURES)
    p = _predict(node, m, data["test"], "p1")
    te, tr = data["te"], data["tr"]
    b = lgb.train(dict(LGB, objective="binary"), lgb.Dataset(data["X"][tr], data["yb"][tr]), 40)
    ours = roc_auc_score(data["yb"][te], p)
    theirs = roc_auc_score(data["yb"][te], b.predict(data["X"][te]))
    assert abs(ours - theirs) < 0.003, (ours, theirs)
    assert m.output["model_category"] == "Binomial"
    vi = m.output["variable_importances"]
    rows = vi["data"] if "data" in vi else vi["rows"]
    assert {rows[0][0], rows[1][0]} <= {"x0", "x2", "x1"}   # the strongest effects rank first


def test_multinomial_logloss_matches_lightgbm(node, data):
    m = _train(node, training_frame=data["train"], y="ym", x=FEATURES)
    te, tr = data["te"], data["tr"]
    h = api.predict(node, m.key, data["test"])
    P = np.column_stack([column(node, h.key, c) for c in ("a", "b", "c")])
    assert np.allclose(P.sum(axis=1), 1.0)
    b = lgb.train(dict(LGB, objective="multiclass", num_class=3), lgb.Dataset(data["X"][tr], data["ym"][tr]), 40)
    ours = log_loss(data["ym"][te], P)
    theirs = log_loss(data["ym"][te], b.predict(data["X"][te]))
    assert abs(ours - theirs) < 0.01, (ours, theirs)
    assert m.output["ntrees_per_iteration"] == 3 and len(m.arrays["tree_class"]) == 120


@pytest.mark.parametrize("dist,y,lgb_obj,extra", [
    ("poisson", "yc", "poisson", {"poisson_max_delta_step": 1e-12}),
    ("gamma", "yg", "gamma", {}),
    ("tweedie", "yc", "tweedie", {"tweedie_variance_power": 1.5}),
])
def test_log_link_distributions_match_lightgbm(node, data, dist, y, lgb_obj, extra):
    m = _train(node, training_frame=data["train"], y=y, x=FEATURES, distribution=dist)
    te, tr = data["te"], data["tr"]
    p = _predict(node, m, data["test"], "predict")
    b = lgb.train(dict(LGB, objective=lgb_obj, **extra), lgb.Dataset(data["X"][tr], data[y][tr]), 40)
    q = b.predict(data["X"][te])
    yt = data[y][te]
    ours, theirs = np.sqrt(np.mean((p - yt) ** 2)), np.sqrt(np.mean((q - yt) ** 2))
    assert abs(ours - theirs) < 0.02 * theirs, (ours, theirs)
    assert np.all(p > 0)


def test_quantile_laplace_and_huber_fit_their_targets(node, data):
    te = data["te"]
    yt = data["yr"][te]
    for alpha in (0.2,):
        m = _train(node, training_frame=data["train"], y="yr", x=FEATURES, distribution="quantile",
                   quantile_alpha=alpha, ntrees=25, learn_rate=0.3)
        p = _predict(node, m, data["test"], "predict")
        assert abs((yt < p).mean() - alpha) < 0.05
    fast = dict(training_frame=data["train"], y="yr", x=FEATURES, ntrees=25, learn_rate=0.3)
    lap = _predict(node, _train(node, distribution="laplace", **fast), data["test"], "predict")
    gau = _predict(node, _train(node, **fast), data["test"], "predict")
    hub = _predict(node, _train(node, distribution="huber", **fast), data["test"], "predict")
    base = np.mean(np.abs(yt - np.median(data["yr"][data["tr"]])))
    assert np.mean(np.abs(yt - lap)) < 0.75 * base
    assert np.mean(np.abs(yt - hub)) < 0.75 * base
    assert np.mean(np.abs(yt - lap)) < np.mean(np.abs(yt - gau)) * 1.05


def test_seeded_training_is_bitwise_reproducible_and_independent_of_chunking(node, data):
    X, yr = data["X"][data["tr"]], data["yr"][data["tr"]]
    cols = {f"x{j}": X[:, j] for j in range(5)}
    cols["yr"] = yr
    f1 = make_frame(node, cols, chunk_rows=500)
    f2 = make_frame(node, cols, chunk_rows=1234)
    params = dict(y="yr", x=FEATURES, sample_rate=0.7, col_sample_rate=0.6, col_sample_rate_per_tree=0.8,
                  ntrees=15, histogram_type="UniformAdaptive", nbins=20)
    a = _train(node, training_frame=f1, **params)
    b = _train(node, training_frame=f1, **params)
    c = _train(node, training_frame=f2, **params)
    d = _train(node, training_frame=f1, **dict(params, seed=2))
    for k in a.arrays:
        assert np.array_equal(a.arrays[k], b.arrays[k]), k
        assert np.array_equal(a.arrays[k], c.arrays[k]), k
    assert a.output["training_metrics"]["rmse"] == c.output["training_metrics"]["rmse"]
    assert not np.array_equal(a.arrays["value"], d.arrays["value"])


def test_integer_weights_equal_duplicated_rows(node):
    X, score, rng = _data(n=1200, seed=7)
    y = score + rng.normal(size=1200)
    w = rng.integers(1, 3, 1200).astype(float)
    rep = np.repeat(np.arange(1200), w.astype(int))
    fw = make_frame(node, {**{f"x{j}": X[:, j] for j in range(5)}, "y": y, "w": w})
    fd = make_frame(node, {**{f"x{j}": X[rep, j] for j in range(5)}, "y": y[rep]})
    a = _train(node, training_frame=fw, y="y", x=FEATURES, weights_column="w", ntrees=10)
    b = _train(node, training_frame=fd, y="y", x=FEATURES, ntrees=10)
    for k in ("col", "thr", "nal", "left", "right"):
        assert np.array_equal(a.arrays[k], b.arrays[k]), k
    assert np.allclose(a.arrays["value"], b.arrays["value"], rtol=1e-9, atol=1e-12)


def test_offset_shifts_the_gaussian_model_exactly(node):
    X, score, rng = _data(n=1500, seed=8)
    y = score + rng.normal(size=1500)
    off = rng.normal(size=1500)
    fo = make_frame(node, {**{f"x{j}": X[:, j] for j in range(5)}, "y": y + off, "o": off})
    fp = make_frame(node, {**{f"x{j}": X[:, j] for j in range(5)}, "y": y})
    a = _train(node, training_frame=fo, y="y", x=FEATURES, offset_column="o", ntrees=10)
    b = _train(node, training_frame=fp, y="y", x=FEATURES, ntrees=10)
    for k in ("col", "thr", "left", "right"):
        assert np.array_equal(a.arrays[k], b.arrays[k]), k
    pa = _predict(node, a, fo, "predict")
    pb = _predict(node, b, fp, "predict")
    assert np.allclose(pa, pb + off, atol=1e-9)


def test_monotone_constraint_makes_predictions_monotone(node):
    rng = np.random.default_rng(9)
    n = 3000
    x0 = rng.uniform(-2, 2, n)
    x1 = rng.normal(size=n)
    y = np.sin(3 * x0) + x0 + 0.5 * x1 + 0.3 * rng.normal(size=n)   # not monotone in x0 on its own
    f = make_frame(node, {"x0": x0, "x1": x1, "y": y})
    m = _train(node, training_frame=f, y="y", x=["x0", "x1"], monotone_constraints={"x0": 1}, ntrees=30,
               histogram_type="UniformAdaptive", nbins=20, max_depth=4)
    grid = np.linspace(-2.2, 2.2, 200)
    for v in (-1.0, 0.0, 1.3):
        g = make_frame(node, {"x0": grid, "x1": np.full(200, v), "y": np.zeros(200)})
        p = _predict(node, m, g, "predict")
        assert np.all(np.diff(p) >= -1e-12)
    unc = _train(node, training_frame=f, y="y", x=["x0", "x1"], ntrees=30, histogram_type="UniformAdaptive",
                 nbins=20, max_depth=4)
    g = make_frame(node, {"x0": grid, "x1": np.zeros(200), "y": np.zeros(200)})
    assert np.any(np.diff(_predict(node, unc, g, "predict")) < -1e-6)


def test_max_abs_leafnode_pred_and_learn_rate_annealing_bound_leaf_values(node, data):
    m = _train(node, training_frame=data["train"], y="yr", x=FEATURES, max_abs_leafnode_pred=0.05, ntrees=5)
    assert np.abs(m.arrays["value"]).max() <= 0.05 * 0.1 + 1e-15
    a = _train(node, training_frame=data["train"], y="yr", x=FEATURES, learn_rate_annealing=0.5, ntrees=6)
    offs, val = a.arrays["tree_off"], np.abs(a.arrays["value"])
    first, last = val[offs[0]:offs[1]].max(), val[offs[5]:offs[6]].max()
    assert last < first * 0.5 ** 5 * 3


def test_early_stopping_on_a_validation_frame(node):
    rng = np.random.default_rng(10)
    n = 2000
    X = rng.normal(size=(n, 5))
    y = X[:, 0] + rng.normal(size=n) * 2
    tr = make_frame(node, {**{f"x{j}": X[:1200, j] for j in range(5)}, "y": y[:1200]})
    va = make_frame(node, {**{f"x{j}": X[1200:, j] for j in range(5)}, "y": y[1200:]})
    m = _train(node, training_frame=tr, validation_frame=va, y="y", x=FEATURES, ntrees=300, learn_rate=0.3,
               max_depth=6, min_rows=2, stopping_rounds=3, score_tree_interval=2, stopping_tolerance=0.0)
    assert m.output["stopped_early"] and m.output["ntrees"] < 300
    hist = m.output["scoring_history"]
    names = hist["columns"] if "columns" in hist else [c["name"] for c in hist["cols"]]
    assert "validation_rmse" in [c if isinstance(c, str) else c.get("name") for c in names]
    assert m.output["validation_metrics"]["rmse"] is not None


def test_checkpoint_continues_training(node, data):
    a = _train(node, training_frame=data["train"], y="yb", x=FEATURES, ntrees=8)
    b = _train(node, training_frame=data["train"], y="yb", x=FEATURES, ntrees=16, checkpoint=a.key)
    assert b.output["ntrees"] == 16
    n8 = int(a.arrays["tree_off"][-1])
    for k in ("col", "thr", "value"):
        assert np.array_equal(b.arrays[k][:n8], a.arrays[k])
    assert b.output["training_metrics"]["logloss"] < a.output["training_metrics"]["logloss"]
    with pytest.raises(InvalidParameter):
        _train(node, training_frame=data["train"], y="yb", x=FEATURES, ntrees=4, checkpoint=a.key)


def test_missing_values_follow_the_learned_direction(node):
    rng = np.random.default_rng(11)
    n = 1000
    x = rng.integers(-3, 4, n).astype(float)
    miss = rng.random(n) < 0.2
    y = np.where(x > 0, 1.0, 0.0)
    y[miss] = 1.0
    x[miss] = np.nan
    f = make_frame(node, {"x": x, "y": y})
    m = _train(node, training_frame=f, y="y", x=["x"], ntrees=1, max_depth=1, learn_rate=1.0, min_rows=1)
    g = make_frame(node, {"x": np.array([np.nan, -1.0, 1.0]), "y": np.zeros(3)})
    p = _predict(node, m, g, "predict")
    assert p[0] == pytest.approx(1.0) and p[1] == pytest.approx(0.0) and p[2] == pytest.approx(1.0)


def test_categorical_split_groups_levels(node):
    rng = np.random.default_rng(12)
    n = 1200
    c = rng.integers(0, 6, n)
    y = np.isin(c, [0, 2, 5]).astype(float) * 3 + rng.normal(size=n) * 0.1
    f = make_frame(node, {"c": (c, tuple("abcdef")), "y": y})
    m = _train(node, training_frame=f, y="y", x=["c"], ntrees=1, max_depth=1, learn_rate=1.0)
    a = m.arrays
    assert a["col"][0] == 0 and a["catp"][0] >= 0
    bits = a["catbits"][a["catp"][0]:a["catp"][0] + 6].astype(bool)
    assert set(np.flatnonzero(bits)) in ({0, 2, 5}, {1, 3, 4})
    assert a["nal"].dtype == np.uint8


def test_parameter_problems_come_back_together(node, data):
    with pytest.raises(InvalidParameter) as e:
        api.train(node, "gbm", {"training_frame": data["train"], "y": "yr", "distribution": "bernoulli",
                                "max_depth": -1, "learn_rate": 2.0})
    probs = {p["parameter"] for p in e.value.details["problems"]}
    assert {"max_depth", "learn_rate"} <= probs
    with pytest.raises(InvalidParameter):
        api.train(node, "gbm", {"training_frame": data["train"], "y": "yr", "distribution": "bernoulli"})


def test_response_must_fit_the_distribution(node):
    f = make_frame(node, {"x0": np.arange(50.0), "y": np.linspace(-1, 1, 50)})
    for dist in ("poisson", "gamma", "tweedie"):
        with pytest.raises(InvalidParameter, match=dist):
            api.train(node, "gbm", {"training_frame": f, "y": "y", "distribution": dist, "ntrees": 2})

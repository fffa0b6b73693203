"""TreeSHAP contributions and leaf node assignment of tree models, end to end: through the Python
client, plain HTTP, against independent expectations.

Expectations:
- the raw prediction from the prediction frame (regression: the prediction; bernoulli: the logit of
  p1; multinomial: softmax of the per-class sums gives the probabilities, and log-ratios match);
- an exact Shapley computation by brute force (every coalition, path-dependent conditional
  expectation with the node covers as weights) on the model's trees, read from the saved model file;
  the brute force itself is checked against LightGBM's ``pred_contrib=True`` on a LightGBM model;
- a direct traversal of the trees for ``Node_ID``, and the ``Path`` strings walked from the root.
"""
from __future__ import annotations

import io
from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd
import pytest

import shoal
from nodeproc import start_with_export
from shoal_server.algos.common.persist import load_model_file

PREDICTORS = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = start_with_export(tmp_path_factory.mktemp("tcnode"))
    try:
        yield n
    finally:
        n.stop()


pytestmark = pytest.mark.usefixtures("connected", "reconnect")


def _data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                       "c": pd.Categorical(rng.choice(list("xyz"), n), categories=list("xyz")),
                       "d": rng.uniform(-1, 1, size=n)})
    df.loc[rng.random(n) < 0.1, "b"] = np.nan
    eta = 0.9 * df["a"] - 0.6 * df["b"].fillna(1.0) + (df["c"] == "z") * 0.8 + df["d"] ** 2
    df["y"] = pd.Categorical(np.where(eta + rng.logistic(size=n) > 0, "yes", "no"), categories=["no", "yes"])
    df["r"] = 2.0 * df["a"] + df["d"] + rng.normal(scale=0.3, size=n)
    df["m"] = pd.Categorical(np.array(["lo", "mid", "hi"])[np.digitize(eta + rng.normal(scale=0.4, size=n),
                                                                       [-0.3, 0.8])],
                             categories=["hi", "lo", "mid"])
    return df


@pytest.fixture(scope="module")
def frames(connected):
    train, test = _data(400, 1), _data(60, 2)
    test.loc[[0, 1], "c"] = np.nan
    return (train, shoal.Frame(train, destination_frame="tc_train"),
            test, shoal.Frame(test[PREDICTORS], destination_frame="tc_test"))


CASES = {
    "gbm_reg": ("gbm", "r", dict(ntrees=6, max_depth=3, seed=1)),
    "gbm_bin": ("gbm", "y", dict(ntrees=6, max_depth=3, seed=2)),
    "gbm_multi": ("gbm", "m", dict(ntrees=4, max_depth=3, seed=3)),
    "drf_bin": ("drf", "y", dict(ntrees=4, max_depth=4, seed=4)),
}


@pytest.fixture(scope="module")
def models(frames):
    _, train, _, _ = frames
    out = {}
    for name, (algo, y, params) in CASES.items():
        est = {"gbm": shoal.GBM, "drf": shoal.DRF}[algo](model_id=f"tc_{name}", **params)
        out[name] = est.train(x=PREDICTORS, y=y, training_frame=train, progress=False)
    return out


@pytest.fixture(scope="module")
def saved(models, node):
    """The trees of each model as the server stored them (the data-only model file)."""
    out = {}
    for name, m in models.items():
        path = m.save(f"{name}.shoal", force=True)
        out[name] = load_model_file(path)
    return out


# ------------------------------------------------------------------------------- the reference
def _expected_value(tree, nd, x, S):
    """E[f(x) | x_S] of one tree, path-dependent: features outside S follow both children by cover."""
    left, right = tree["left"][nd], tree["right"][nd]
    if left < 0:
        return tree["value"][nd]
    if tree["feature"][nd] in S:
        return _expected_value(tree, left if tree["goes_left"](nd, x) else right, x, S)
    cov = tree["cover"]
    return (cov[left] * _expected_value(tree, left, x, S) + cov[right] * _expected_value(tree, right, x, S)) / cov[nd]


def brute_force_shapley(trees, x, p: int) -> np.ndarray:
    """Exact Shapley values of the sum of ``trees`` at ``x`` over ``p`` features (+ the bias, last)."""
    cache: dict[frozenset, float] = {}

    def v(S: frozenset) -> float:
        if S not in cache:
            cache[S] = sum(_expected_value(t, t["root"], x, S) for t in trees)
        return cache[S]

    phi = np.zeros(p + 1)
    for i in range(p):
        others = [j for j in range(p) if j != i]
        for k in range(p):
            w = factorial(k) * factorial(p - k - 1) / factorial(p)
            for S in combinations(others, k):
                s = frozenset(S)
                phi[i] += w * (v(s | {i}) - v(s))
    phi[p] = v(frozenset())
    return phi


def shoal_trees(model) -> dict[int, list[dict]]:
    """Per class, the model's trees in the reference's form (goes_left as the server routes)."""
    a = model.arrays
    out: dict[int, list[dict]] = {}

    def goes_left(nd, x):
        v = x[a["col"][nd]]
        if np.isnan(v):
            return a["nal"][nd] == 1
        if a["catp"][nd] >= 0:
            lv = int(v)
            if lv < 0 or lv >= a["catlen"][nd]:
                return a["nal"][nd] == 1
            return a["catbits"][a["catp"][nd] + lv] == 1
        return v < a["thr"][nd]

    for t in range(len(a["tree_class"])):
        out.setdefault(int(a["tree_class"][t]), []).append(
            {"root": int(a["tree_off"][t]), "left": a["left"], "right": a["right"], "feature": a["col"],
             "value": a["value"], "cover": a["cover"], "goes_left": goes_left})
    return out


def raw_rows(model, df: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """Rows in the model's predictor order: categoricals as training level index (NaN if missing)."""
    names, cols = [], []
    for c in model.spec["cats"]:
        index = {lv: i for i, lv in enumerate(c["domain"])}
        names.append(c["name"])
        cols.append(np.array([index.get(v, np.nan) if isinstance(v, str) else np.nan for v in df[c["name"]]]))
    for c in model.spec["nums"]:
        names.append(c["name"])
        cols.append(df[c["name"]].to_numpy(float))
    return names, np.column_stack(cols)


def reference_contributions(model, df: pd.DataFrame) -> np.ndarray:
    """(n, K, p + 1) exact Shapley values of the model's raw score (GBM: + init_f; DRF: tree average)."""
    names, X = raw_rows(model, df)
    p = len(names)
    per_class = shoal_trees(model)
    K = int(model.output["ntrees_per_iteration"])
    out = np.zeros((X.shape[0], K, p + 1))
    for i in range(X.shape[0]):
        for k in range(K):
            out[i, k] = brute_force_shapley(per_class.get(k, []), X[i], p)
    if model.algo == "drf":
        out /= model.output["ntrees"]
    else:
        out[:, :, p] += np.asarray(model.output["init_f"])[None, :]
    return out


def traverse(model, x: np.ndarray, t: int) -> int:
    """The leaf row ``x`` reaches in tree ``t`` (index within the tree), by a plain walk."""
    a = model.arrays
    nd = int(a["tree_off"][t])
    tree = shoal_trees(model)[int(a["tree_class"][t])][0]
    while a["left"][nd] >= 0:
        nd = int(a["left"][nd] if tree["goes_left"](nd, x) else a["right"][nd])
    return nd - int(a["tree_off"][t])


def test_the_brute_force_reference_matches_lightgbm():
    """The reference Shapley computation gives LightGBM's own pred_contrib on a LightGBM model."""
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 4))
    y = X[:, 0] - 2 * X[:, 1] * (X[:, 2] > 0) + rng.normal(scale=0.2, size=300)
    booster = lgb.train({"objective": "regression", "num_leaves": 6, "min_data_in_leaf": 10, "verbose": -1,
                         "learning_rate": 0.3}, lgb.Dataset(X, y), num_boost_round=5)
    trees = []
    for info in booster.dump_model()["tree_info"]:
        left, right, feature, thr, value, cover = [], [], [], [], [], []

        def add(node):
            i = len(left)
            for lst in (left, right, feature, thr, value, cover):
                lst.append(0)
            if "leaf_value" in node:
                left[i] = right[i] = feature[i] = -1
                value[i] = node["leaf_value"]
                cover[i] = node["leaf_count"]
            else:
                feature[i] = node["split_feature"]
                thr[i] = node["threshold"]
                cover[i] = node["internal_count"]
                left[i] = add(node["left_child"])
                right[i] = add(node["right_child"])
            return i

        add(info["tree_structure"])
        trees.append({"root": 0, "left": left, "right": right, "feature": feature, "value": value, "cover": cover,
                      "goes_left": (lambda nd, x, f=feature, t=thr: x[f[nd]] <= t[nd])})
    Xt = rng.normal(size=(15, 4))
    want = booster.predict(Xt, pred_contrib=True)
    got = np.array([brute_force_shapley(trees, Xt[i], 4) for i in range(len(Xt))])
    assert np.allclose(got, want, rtol=0, atol=1e-9)
    assert np.allclose(got.sum(axis=1), booster.predict(Xt), rtol=0, atol=1e-9)


# ------------------------------------------------------------------------------- contributions
def _blocks(K: int, frame: pd.DataFrame) -> np.ndarray:
    return frame.to_numpy(float).reshape(len(frame), K, -1)


@pytest.mark.parametrize("name", list(CASES))
def test_contributions_are_the_exact_shapley_values(models, saved, frames, name):
    _, _, test_df, test = frames
    m, stored = models[name], saved[name]
    contrib = m.predict_contributions(test, progress=False)
    df = contrib.as_data_frame()
    names, _ = raw_rows(stored, test_df)
    K = int(stored.output["ntrees_per_iteration"])
    if K == 1:
        assert list(df.columns) == names + ["BiasTerm"]
    else:
        dom = stored.output["domain"]
        assert list(df.columns) == [f"{c}.{dom[k]}" for k in range(K) for c in names + ["BiasTerm"]]
    assert set(contrib.types.values()) == {"real"}
    got = _blocks(K, df)
    want = reference_contributions(stored, test_df)
    assert np.allclose(got, want, rtol=0, atol=1e-9)
    # the bias term is the same for every row
    assert np.ptp(got[:, :, -1], axis=0).max() < 1e-12


@pytest.mark.parametrize("name", list(CASES))
def test_contributions_sum_to_the_raw_prediction(models, frames, name):
    _, _, _, test = frames
    m = models[name]
    K = int(m.output["ntrees_per_iteration"])
    sums = _blocks(K, m.predict_contributions(test, progress=False).as_data_frame()).sum(axis=2)
    pred = m.predict(test, progress=False).as_data_frame()
    if name == "gbm_reg":
        assert np.allclose(sums[:, 0], pred["predict"].to_numpy(), rtol=0, atol=1e-9)
    elif name == "gbm_bin":
        p1 = pred["yes"].to_numpy()
        assert np.allclose(sums[:, 0], np.log(p1) - np.log1p(-p1), rtol=0, atol=1e-9)
    elif name == "gbm_multi":
        P = pred[["hi", "lo", "mid"]].to_numpy()
        e = np.exp(sums - sums.max(axis=1, keepdims=True))
        assert np.allclose(e / e.sum(axis=1, keepdims=True), P, rtol=0, atol=1e-12)
        assert np.allclose(sums[:, 1:] - sums[:, :1], np.log(P[:, 1:]) - np.log(P[:, :1]), rtol=0, atol=1e-9)
    else:   # DRF binomial: the tree average of the class-1 indicator is p1
        assert np.allclose(sums[:, 0], pred["yes"].to_numpy(), rtol=0, atol=1e-9)


# ------------------------------------------------------------------------------- leaf assignment
@pytest.mark.parametrize("name", ["gbm_bin", "gbm_multi", "drf_bin"])
def test_leaf_node_ids_and_paths_agree_with_a_traversal(models, saved, frames, name):
    _, _, test_df, test = frames
    m, stored = models[name], saved[name]
    ids_frame = m.predict_leaf_node_assignment(test, type="Node_ID", progress=False)
    ids = ids_frame.as_data_frame()
    paths = m.predict_leaf_node_assignment(test, progress=False).as_data_frame()   # default: Path
    a = stored.arrays
    T = len(a["tree_class"])
    K = int(stored.output["ntrees_per_iteration"])
    want_names = [f"T{t + 1}" for t in range(T)] if K == 1 else [f"T{t // K + 1}.C{t % K + 1}" for t in range(T)]
    assert list(ids.columns) == want_names == list(paths.columns)
    assert set(ids_frame.types.values()) == {"int"}
    _, X = raw_rows(stored, test_df)
    for t in range(T):
        want = [traverse(stored, X[i], t) for i in range(len(X))]
        assert ids.iloc[:, t].astype(int).tolist() == want
        base = int(a["tree_off"][t])
        for i in range(len(X)):
            path = paths.iloc[i, t]
            assert isinstance(path, str) and set(path) <= {"L", "R"}
            nd = base
            for step in path:
                nd = int(a["left"][nd] if step == "L" else a["right"][nd])
            assert nd - base == want[i] and a["col"][nd] == -1


# ------------------------------------------------------------------------------- HTTP and errors
def _http_frame(node, route: str, body: dict) -> pd.DataFrame:
    r = node.post(route, json=body)
    assert r.status_code == 202, r.text
    job = node.wait_job(r.json()["job"]["key"])
    assert job["status"] == "DONE", job
    csv = node.get(f"/api/v1/frames/{job['dest']}/data", params={"format": "csv"})
    assert csv.status_code == 200
    return pd.read_csv(io.StringIO(csv.text), keep_default_na=False, na_values=[""])


def test_http_gives_the_client_results(node, models, frames):
    _, _, _, test = frames
    m = models["gbm_multi"]
    via_http = _http_frame(node, f"/api/v1/models/{m.model_id}/contributions", {"frame": test.key})
    via_client = m.predict_contributions(test, progress=False).as_data_frame()
    assert list(via_http.columns) == list(via_client.columns)
    assert np.array_equal(via_http.to_numpy(float), via_client.to_numpy(float))
    ids_http = _http_frame(node, f"/api/v1/models/{m.model_id}/leaf_node_assignment",
                           {"frame": test.key, "type": "Node_ID", "destination_frame": "tc_ids_http"})
    ids_client = m.predict_leaf_node_assignment(test, type="Node_ID", progress=False).as_data_frame()
    assert np.array_equal(ids_http.to_numpy(), ids_client.to_numpy())
    paths_http = _http_frame(node, f"/api/v1/models/{m.model_id}/leaf_node_assignment", {"frame": test.key})
    paths_client = m.predict_leaf_node_assignment(test, type="Path", progress=False).as_data_frame()
    assert paths_http.astype(str).values.tolist() == paths_client.astype(str).values.tolist()
    # destination_frame is honoured; the low-level wrappers exist in the generated operations
    assert shoal.get_frame("tc_ids_http").shape == (len(ids_client), len(ids_client.columns))


def test_glm_models_and_bad_types_are_refused(node, frames, connected):
    _, train, _, test = frames
    glm = shoal.GLM(family="binomial", model_id="tc_glm").train(x=PREDICTORS, y="y", training_frame=train,
                                                               progress=False)
    r = node.post(f"/api/v1/models/{glm.model_id}/contributions", json={"frame": test.key})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "invalid_parameter"
    assert "GLM" in err["message"] and "gbm, drf" in err["message"]
    assert err["details"]["algo"] == "glm" and err["details"]["allowed"] == ["gbm", "drf"]
    r = node.post(f"/api/v1/models/{glm.model_id}/leaf_node_assignment", json={"frame": test.key})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_parameter"
    from shoal._generated import operations as ops
    with pytest.raises(shoal.ShoalError) as e:
        ops.model_contributions(connected, glm.model_id, test.key)
    assert e.value.code == "invalid_parameter"
    with pytest.raises(shoal.ShoalError) as e:
        shoal.get_model("tc_gbm_bin").predict_leaf_node_assignment(test, type="Nodes", progress=False)
    assert e.value.code == "invalid_parameter" and "Node_ID" in str(e.value)
    with pytest.raises(shoal.ShoalError) as e:
        shoal.get_model("tc_gbm_bin").predict_contributions("no_such_frame_zz", progress=False)
    assert e.value.code == "frame_not_found"
    r = node.post("/api/v1/models/no_model_zz/contributions", json={"frame": test.key})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    # a model from get_model of a tree algorithm has the methods; GLM has none
    assert isinstance(shoal.get_model("tc_drf_bin"), shoal.model.TreeModel)
    assert not hasattr(glm, "predict_contributions")

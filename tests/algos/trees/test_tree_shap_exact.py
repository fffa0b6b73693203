"""TreeSHAP (``algos/tree/shap.py``) against independent expectations.

- exact Shapley values by brute force over every coalition (path-dependent conditional expectation,
  node covers as weights) on random trees with repeated features on a path, missing values,
  categorical bitset splits, unseen levels and several classes, both through the tabulated leaves
  and the per-row path weights;
- LightGBM's own ``pred_contrib`` on a LightGBM model converted to Shoal's tree arrays;
- the framework's prediction from ``expand_split``'s parts equals the one from the dense rows.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from shoal_server.algos.tree import kernels as K
from shoal_server.algos.tree import shap
from shoal_server.algos.tree.model import raw_from_expanded, raw_from_split

P = 5          # predictors: 0, 1 categorical (6 training levels), 2..4 numeric
CARD = 6


def random_trees(rng, ntrees: int, depth: int, nclass: int) -> dict:
    """Random trees in the model's flat arrays; categorical splits carry random level bitsets."""
    a = {k: [] for k in ("col", "thr", "nal", "catp", "catlen", "left", "right", "value", "cover")}
    catbits: list[int] = []
    offs = [0]

    def build(d):
        i = len(a["col"])
        for k, v in (("col", -1), ("thr", 0.0), ("nal", 0), ("catp", -1), ("catlen", 0), ("left", -1),
                     ("right", -1), ("value", 0.0), ("cover", 0.0)):
            a[k].append(v)
        if d < depth and (d < 2 or rng.random() < 0.8):
            c = int(rng.integers(0, P))
            a["col"][i] = c
            a["nal"][i] = int(rng.integers(0, 2))
            if c < 2:
                a["catp"][i] = len(catbits)
                a["catlen"][i] = CARD
                catbits.extend(int(b) for b in rng.integers(0, 2, CARD))
            else:
                a["thr"][i] = float(rng.normal())
            a["left"][i] = build(d + 1)
            a["right"][i] = build(d + 1)
            a["cover"][i] = a["cover"][a["left"][i]] + a["cover"][a["right"][i]]
        else:
            a["value"][i] = float(rng.normal())
            a["cover"][i] = float(rng.integers(1, 30))
        return i

    for _ in range(ntrees):
        build(0)
        offs.append(len(a["col"]))
    out = {k: np.asarray(v, np.float64 if k in ("thr", "value", "cover") else np.int64) for k, v in a.items()}
    out["nal"] = out["nal"].astype(np.uint8)
    out["catbits"] = np.asarray(catbits, np.uint8)
    out["tree_off"] = np.asarray(offs, np.int64)
    out["tree_class"] = np.arange(ntrees, dtype=np.int64) % nclass
    return out


def random_rows(rng, n: int) -> np.ndarray:
    X = rng.normal(size=(n, P))
    X[:, :2] = rng.integers(-1, CARD + 2, size=(n, 2))     # -1 and >= CARD: unseen levels
    X[rng.random((n, P)) < 0.15] = np.nan
    return X


def goes_left(a, nd, x) -> bool:
    v = x[a["col"][nd]]
    if math.isnan(v):
        return a["nal"][nd] == 1
    if a["catp"][nd] >= 0:
        lv = int(v)
        if lv < 0 or lv >= a["catlen"][nd]:
            return a["nal"][nd] == 1
        return a["catbits"][a["catp"][nd] + lv] == 1
    return v < a["thr"][nd]


def expectation(a, nd, x, S) -> float:
    """E[tree(x) | x_S]: splits on features outside S average their children by cover."""
    if a["col"][nd] < 0:
        return a["value"][nd]
    lf, rt = a["left"][nd], a["right"][nd]
    if a["col"][nd] in S:
        return expectation(a, lf if goes_left(a, nd, x) else rt, x, S)
    return (a["cover"][lf] * expectation(a, lf, x, S) + a["cover"][rt] * expectation(a, rt, x, S)) / a["cover"][nd]


def brute_force(a, x, nclass: int) -> np.ndarray:
    """(K, P + 1): exact Shapley values of each class's tree sum at x, the bias (empty coalition) last."""
    out = np.zeros((nclass, P + 1))
    for t in range(len(a["tree_class"])):
        root, k = int(a["tree_off"][t]), int(a["tree_class"][t])
        v = {}
        for r in range(P + 1):
            for S in itertools.combinations(range(P), r):
                v[S] = expectation(a, root, x, set(S))
        for j in range(P):
            others = [f for f in range(P) if f != j]
            for r in range(P):
                wgt = math.factorial(r) * math.factorial(P - r - 1) / math.factorial(P)
                for S in itertools.combinations(others, r):
                    out[k, j] += wgt * (v[tuple(sorted(S + (j,)))] - v[S])
        out[k, P] += v[()]
    return out


@pytest.mark.parametrize("tabulate", [True, False])
@pytest.mark.parametrize("depth,nclass", [(3, 1), (5, 3), (7, 2)])
def test_contributions_are_the_exact_shapley_values(monkeypatch, tabulate, depth, nclass):
    rng = np.random.default_rng(100 * depth + nclass)
    a = random_trees(rng, 6, depth, nclass)
    X = random_rows(rng, 12)
    if tabulate:
        monkeypatch.setattr(shap, "TABLE_ROWS_PER_PATTERN", 0)   # every leaf tabulated
    else:
        monkeypatch.setattr(shap, "TABLE_BUDGET", 0)             # no leaf tabulated
    lp = shap.leaf_paths(a)
    tb_off, _ = shap._tables(lp, a["value"], X.shape[0])
    assert bool((tb_off >= 0).all()) == tabulate and bool((tb_off < 0).all()) != tabulate
    got = np.zeros((X.shape[0], nclass, P + 1))
    shap.contributions(a, X, got)
    for i in range(X.shape[0]):
        assert np.allclose(got[i], brute_force(a, X[i], nclass), rtol=0, atol=1e-9)
    # per class the values sum to the trees' prediction (efficiency), through kernels.predict_trees
    pred = np.zeros((X.shape[0], nclass))
    K.predict_trees(X, a["tree_off"], a["tree_class"], a["col"], a["thr"], a["nal"], a["catp"], a["catlen"],
                    a["catbits"], a["left"], a["right"], a["value"], pred)
    assert np.allclose(got.sum(axis=2), pred, rtol=0, atol=1e-12)


def test_tabulated_and_direct_leaves_agree_on_many_rows(monkeypatch):
    rng = np.random.default_rng(7)
    a = random_trees(rng, 20, 8, 2)
    X = random_rows(rng, 3000)
    tab = np.zeros((X.shape[0], 2, P + 1))
    shap.contributions(a, X, tab)
    assert (shap._tables(shap.leaf_paths(a), a["value"], X.shape[0])[0] >= 0).any()
    monkeypatch.setattr(shap, "TABLE_BUDGET", 0)
    direct = np.zeros_like(tab)
    shap.contributions(a, X, direct)
    assert np.allclose(tab, direct, rtol=0, atol=1e-12)
    # a tree that is a single leaf contributes its value to the bias only
    one = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in a.items()}
    one.update(col=np.array([-1]), thr=np.zeros(1), nal=np.zeros(1, np.uint8), catp=np.array([-1]),
               catlen=np.zeros(1, np.int64), left=np.array([-1]), right=np.array([-1]), value=np.array([2.5]),
               cover=np.array([10.0]), tree_off=np.array([0, 1]), tree_class=np.array([0]))
    out = np.zeros((4, 1, P + 1))
    shap.contributions(one, X[:4], out)
    assert np.array_equal(out[:, 0, :P], np.zeros((4, P))) and np.all(out[:, 0, P] == 2.5)


def test_contributions_equal_lightgbm_pred_contrib():
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(11)
    n, p = 2000, 6
    X = rng.normal(size=(n, p))
    y = X[:, 0] - 2 * X[:, 1] * (X[:, 2] > 0) + np.sin(3 * X[:, 3]) + rng.normal(scale=0.2, size=n)
    booster = lgb.train({"objective": "regression", "num_leaves": 24, "max_depth": 6, "min_data_in_leaf": 5,
                         "verbose": -1, "learning_rate": 0.2, "num_threads": 1}, lgb.Dataset(X, y), 15)
    a = {k: [] for k in ("col", "thr", "left", "right", "value", "cover")}
    offs = [0]

    def add(node):
        i = len(a["col"])
        for k in a:
            a[k].append(-1 if k in ("col", "left", "right") else 0.0)
        if "leaf_value" in node:
            a["value"][i], a["cover"][i] = node["leaf_value"], node["leaf_count"]
        else:
            # LightGBM: left when x <= threshold; Shoal: left when x < thr
            a["col"][i], a["thr"][i] = node["split_feature"], np.nextafter(node["threshold"], np.inf)
            a["cover"][i] = node["internal_count"]
            a["left"][i] = add(node["left_child"])
            a["right"][i] = add(node["right_child"])
        return i

    for info in booster.dump_model()["tree_info"]:
        add(info["tree_structure"])
        offs.append(len(a["col"]))
    arr = {k: np.asarray(v, np.float64 if k in ("thr", "value", "cover") else np.int64) for k, v in a.items()}
    m = len(a["col"])
    arr.update(nal=np.zeros(m, np.uint8), catp=np.full(m, -1, np.int64), catlen=np.zeros(m, np.int64),
               catbits=np.zeros(0, np.uint8), tree_off=np.asarray(offs, np.int64),
               tree_class=np.zeros(len(offs) - 1, np.int64))
    Xt = rng.normal(size=(500, p))
    got = np.zeros((500, 1, p + 1))
    shap.contributions(arr, Xt, got)
    want = booster.predict(Xt, pred_contrib=True)
    assert np.allclose(got[:, 0, :], want, rtol=0, atol=1e-9)


def test_split_rows_equal_dense_rows():
    """``raw_from_split`` (the framework's predict without indicator rows) = ``raw_from_expanded``."""
    rng = np.random.default_rng(3)
    widths, n = [4, 1, 3], 50
    payload = {"widths": widths, "nnum": 2}
    levels = [rng.integers(-1, w, n) for w in widths]               # -1: missing or unseen level
    num = rng.normal(size=(n, 2))
    num[rng.random((n, 2)) < 0.2] = np.finfo(np.float64).max       # the imputation sentinel
    X = np.zeros((n, sum(widths) + 2))
    C = np.full((n, len(widths)), -1, np.int32)
    j = 0
    for k, (w, lv) in enumerate(zip(widths, levels)):
        rows = np.nonzero(lv >= 0)[0]
        X[rows, j + lv[rows]] = 1.0
        C[rows, k] = j + lv[rows]
        j += w
    X[:, j:] = num
    dense = raw_from_expanded(payload, X)
    split = raw_from_split(payload, C, num)
    assert np.array_equal(np.isnan(dense), np.isnan(split))
    assert np.array_equal(np.nan_to_num(dense, nan=-7.0), np.nan_to_num(split, nan=-7.0))
    for k, lv in enumerate(levels):
        assert np.array_equal(np.nan_to_num(split[:, k], nan=-1), lv)

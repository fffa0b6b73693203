"""Fused passes of the tree builder: a tree's ``tree.update`` folded into the next tree's
``tree.grad`` (one pass over the rows), the gradient pass as one kernel, and the split search in two
halves on two threads give the same model bits as the separate passes, on one node and on three."""
from __future__ import annotations

import collections
import math

import numpy as np
import pytest

from shoal_server.algos.common import api
from shoal_server.algos.common.model import models_of
from shoal_server.algos.drf import train_drf
from shoal_server.algos.gbm import train_gbm
from shoal_server.algos.tree import builder, engine
from shoal_server.algos.tree.losses import gradients
from shoal_server.config import NodeConfig
from shoal_server.node import Node
from shoal_server.tasks import runtime as rt

from fakecluster import fake_cluster
from test_tree_three_nodes import _spread
from tree_helpers import make_frame


def _data(seed=11, n=3000):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[rng.random(n) < 0.08, 1] = np.nan
    c = rng.integers(0, 5, n)
    s = X[:, 0] - 0.7 * X[:, 2] ** 2 + np.array([0, 1, -1, 0.5, 0.2])[c] + 0.4 * np.nan_to_num(X[:, 1])
    yb = (rng.random(n) < 1 / (1 + np.exp(-s))).astype(np.int32)
    ym = np.digitize(s + 0.5 * rng.normal(size=n), [-1.0, 0.4]).astype(np.int32)
    return {"x0": X[:, 0], "x1": X[:, 1], "x2": X[:, 2], "x3": X[:, 3], "c": (c, ("a", "b", "c", "d", "e")),
            "yb": (yb, ("n", "y")), "ym": (ym, ("p", "q", "r")), "yr": s + rng.normal(size=n),
            "w": rng.random(n) * 2.0}


X_ = ["x0", "x1", "x2", "x3", "c"]


@pytest.fixture(scope="module")
def frames(node):
    d = _data()
    tr = make_frame(node, {k: (v[0][:2400], v[1]) if isinstance(v, tuple) else v[:2400] for k, v in d.items()},
                    chunk_rows=500, key="fused_tr")
    va = make_frame(node, {k: (v[0][2400:], v[1]) if isinstance(v, tuple) else v[2400:] for k, v in d.items()},
                    chunk_rows=250, key="fused_va")
    return tr, va


class _Count:
    """Counts the passes (task runs) of the runtime while active."""

    def __init__(self, monkeypatch):
        self.n = collections.Counter()
        orig = rt.Runtime.run

        def run(rself, task_name, *a, **k):
            self.n[task_name] += 1
            return orig(rself, task_name, *a, **k)

        monkeypatch.setattr(rt.Runtime, "run", run)


def _train(node_, algo, params, fused, monkeypatch):
    monkeypatch.setattr(builder, "FUSED_PASSES", fused)
    return models_of(node_).get(api.train(node_, algo, dict(params)))


def _train_direct(node_, algo, params, fused, monkeypatch, key):
    monkeypatch.setattr(builder, "FUSED_PASSES", fused)
    train = train_gbm if algo == "gbm" else train_drf
    return train(node_, dict(params), model_key=key)


def _same(a, b):
    assert sorted(a.arrays) == sorted(b.arrays)
    for k in a.arrays:
        assert np.array_equal(a.arrays[k], b.arrays[k]), k
    assert a.output["training_metrics"] == b.output["training_metrics"]
    assert a.output["validation_metrics"] == b.output["validation_metrics"]
    strip = [{k: v for k, v in r.items() if k != "time"} for r in a.output["scoring_history_rows"]]
    assert strip == [{k: v for k, v in r.items() if k != "time"} for r in b.output["scoring_history_rows"]]


CASES = [
    ("gbm", {"y": "yb", "sample_rate": 0.7}),
    ("gbm", {"y": "ym", "score_tree_interval": 3}),
    ("gbm", {"y": "yr", "weights_column": "w", "col_sample_rate": 0.8}),
    ("gbm", {"y": "yr", "distribution": "huber"}),
    ("gbm", {"y": "yb", "validation": True, "score_tree_interval": 4, "sample_rate": 0.8}),
    ("drf", {"y": "yb"}),
    ("drf", {"y": "ym", "sample_rate": 0.5}),
]


@pytest.mark.parametrize("algo,extra", CASES)
def test_fused_passes_give_the_model_of_separate_passes(node, frames, monkeypatch, algo, extra):
    tr, va = frames
    extra = dict(extra)
    params = dict(training_frame=tr, x=X_, ntrees=9, max_depth=4, seed=5, **extra)
    if params.pop("validation", False):
        params["validation_frame"] = va
    params.setdefault("score_tree_interval", 100)   # scored at the last tree only
    sep = _train(node, algo, params, False, monkeypatch)
    cnt = _Count(monkeypatch)
    fused = _train(node, algo, params, True, monkeypatch)
    _same(sep, fused)
    # the fused path really ran: tree.update only after the scored trees (the last one included)
    sti = params["score_tree_interval"]
    scored = sum(1 for t in range(1, 10) if t % sti == 0 or t == 9)
    assert cnt.n["tree.update"] == scored
    assert cnt.n["tree.grad"] == 9


def test_fused_passes_with_checkpoint_restart(node, frames, monkeypatch):
    tr, _va = frames
    base = dict(training_frame=tr, y="yb", x=X_, max_depth=3, seed=3, sample_rate=0.9, score_tree_interval=50)
    models = {}
    for fused in (False, True):
        first = _train(node, "gbm", dict(base, ntrees=4), fused, monkeypatch)
        models[fused] = _train(node, "gbm", dict(base, ntrees=10, checkpoint=first.key), fused, monkeypatch)
        assert models[fused].output["ntrees"] == 10
    _same(models[False], models[True])


def test_time_limit_flushes_the_deferred_update(node, frames, monkeypatch):
    tr, _va = frames
    base = dict(training_frame=tr, y="yb", x=X_, max_depth=3, seed=4, score_tree_interval=1000)
    _train(node, "gbm", dict(base, ntrees=2), True, monkeypatch)  # compiled outside the timing
    m = _train(node, "gbm", dict(base, ntrees=100000, max_runtime_secs=0.6), True, monkeypatch)
    assert m.output["stopped_by_runtime"] is True
    built = m.output["ntrees"]
    ref = _train(node, "gbm", dict(base, ntrees=built), False, monkeypatch)
    for k in ("col", "thr", "value", "left", "right"):
        np.testing.assert_array_equal(m.arrays[k], ref.arrays[k])
    # training metrics of the last tree: its update was applied before scoring
    assert m.output["training_metrics"] == ref.output["training_metrics"]


@pytest.fixture(scope="module")
def cluster():
    with fake_cluster(3, 62400) as nodes:
        yield nodes


@pytest.mark.parametrize("algo,y,extra", [
    ("gbm", "yb", {"sample_rate": 0.8}),
    ("gbm", "ym", {"score_tree_interval": 2}),
    ("gbm", "yr", {"weights_column": "w"}),
    ("drf", "yb", {}),
])
def test_three_nodes_fused_equal_one_node_separate(cluster, monkeypatch, algo, y, extra):
    d = _data(seed=23, n=1500)
    key = f"fused3_{algo}_{y}"
    _spread(cluster, key, d, 113)
    single = Node(NodeConfig(threads=2, port=62490))
    try:
        _spread([single], key, d, 113)
        params = dict(training_frame=key, y=y, x=X_, ntrees=6, max_depth=4, seed=9, **extra)
        params.setdefault("score_tree_interval", 100)
        three = _train_direct(cluster[1], algo, params, True, monkeypatch, "f3")
        one = _train_direct(single, algo, params, False, monkeypatch, "f1")
    finally:
        single.close()
    _same(one, three)
    for n in cluster:
        assert not getattr(n, "_tree_sessions", {})


@pytest.mark.parametrize("dist,K", [("gaussian", 1), ("bernoulli", 1), ("multinomial", 3), ("poisson", 1),
                                    ("drf-reg", 1), ("drf-bin", 1), ("drf-multi", 3)])
def test_gradient_kernel_matches_numpy_losses(dist, K):
    """The one-pass gradient kernel against ``losses.gradients`` and the numpy maxima, bit for bit."""
    rng = np.random.default_rng(K + len(dist))
    n = 20000
    d = {"distribution": dist}
    if dist.startswith("drf"):
        d = {"distribution": "drf", "classification": dist != "drf-reg"}
    y = rng.integers(0, max(K, 2), n).astype(np.float64) if dist not in ("gaussian", "poisson", "drf-reg") \
        else np.abs(rng.normal(size=n)) * 3
    y[rng.random(n) < 0.05] = np.nan
    f = rng.normal(size=(K, n)) * 4
    off = rng.normal(size=n) * 0.1
    w = np.where(rng.random(n) < 0.1, 0.0, rng.random(n) * 3)
    u = rng.random(n)
    rate = 0.7
    act = (w > 0) & (u < rate)
    g_ref, h_ref = np.zeros((K, n)), np.zeros((K, n))
    gradients(d, y, f, off, g_ref, h_ref)
    wa = np.where(act, w, 0.0)
    kind = engine._GRAD_KIND.get(d["distribution"], 0)
    g, h = np.zeros((K, n)), np.zeros((K, n))
    e, ncls = np.zeros(0), 0
    if kind == 3:
        ncls = 0 if not d["classification"] else (1 if K == 1 else K)
    elif kind == 2:
        e = np.exp(-(f[0] + off))
    elif kind == 0:
        gradients(d, y, f, off, g, h)
    active = np.zeros(n, np.uint8)
    nid = np.full((K, n), 7, np.int32)
    mg, mh, stat = np.empty(K), np.empty(K), np.empty(3)
    engine._grad_rows(kind, ncls, y, f, off, e, w, u, rate, g, h, active, nid, mg, mh, stat)
    assert g.tobytes() == g_ref.tobytes() and h.tobytes() == h_ref.tobytes()
    assert mg.tobytes() == np.abs(g_ref * wa).max(axis=1).tobytes()
    assert mh.tobytes() == np.abs(h_ref * wa).max(axis=1).tobytes()
    assert stat[0] == wa.max() and stat[1] == wa[act].min() and stat[2] == act.sum()
    assert np.array_equal(active, act.astype(np.uint8)) and not nid.any()


def test_gradient_kernel_reports_non_finite_and_no_active_rows():
    n = 10
    y = np.zeros(n)
    f = np.zeros((1, n))
    f[0, 3] = np.nan
    w = np.ones(n)
    g, h = np.zeros((1, n)), np.zeros((1, n))
    mg, mh, stat = np.empty(1), np.empty(1), np.empty(3)
    engine._grad_rows(1, 0, y, f, np.zeros(n), np.zeros(0), w, np.zeros(0), 1.0, g, h, np.zeros(n, np.uint8),
                      np.zeros((1, n), np.int32), mg, mh, stat)
    assert math.isnan(mg[0]) and mh[0] == 1.0          # numpy's max propagates the NaN too
    engine._grad_rows(1, 0, y, np.zeros((1, n)), np.zeros(n), np.zeros(0), np.zeros(n), np.zeros(0), 1.0, g, h,
                      np.zeros(n, np.uint8), np.zeros((1, n), np.int32), mg, mh, stat)
    assert stat[0] == 0.0 and stat[1] == math.inf and stat[2] == 0 and mg[0] == 0.0


def test_split_search_in_two_halves_equals_one_call(node, frames, monkeypatch):
    tr, _va = frames
    calls = collections.Counter()
    orig = engine._split_helper

    def helper():
        calls["par"] += 1
        return orig()

    params = dict(training_frame=tr, y="ym", x=X_, ntrees=4, max_depth=5, seed=2, score_tree_interval=100)
    one = _train(node, "gbm", params, True, monkeypatch)
    monkeypatch.setattr(engine, "_SPLIT_PAR_ROWS", 0)
    monkeypatch.setattr(engine, "_split_helper", helper)
    two = _train(node, "gbm", params, True, monkeypatch)
    assert calls["par"] > 0
    _same(one, two)

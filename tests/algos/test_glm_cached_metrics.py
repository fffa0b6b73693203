"""A binomial GLM's training metrics come from the training's cached decoded rows
(``glm.cached_binomial_metrics``) and equal, value for value, ``model_performance`` on the training
frame (the scoring path, which decodes every chunk again), on one node and on three; the cases the
cache does not hold (no categorical predictor, no session) take the scoring path and are equal too."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

import shoal_server.algos as algos
from shoal_server.algos.glm import builder, kernels
from shoal_server.algos.glm.builder import train_glm
from shoal_server.store.codecs import encode
from shoal_server.store.frame import ColumnHeader, FrameHeader
from shoal_server.store.layout import home_of
from shoal_server.store.types import ColType

from algo_helpers import frame_columns, make_frame
from fakecluster import fake_cluster

_GLM_KEYS = ("null_deviance", "residual_deviance", "null_degrees_of_freedom", "residual_degrees_of_freedom", "AIC")
_ENUMS = {"a": list("pqrs"), "b": [f"b{i}" for i in range(12)], "y": ["N", "Y"]}


def _data(n=2600, seed=21):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 4, n), rng.integers(0, 12, n)
    x, z = rng.normal(size=n), rng.gamma(2.0, 1.5, n)
    eta = 0.6 * x - 0.2 * z + np.linspace(-1, 1, 4)[a] + 0.4 * np.sin(b)
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.int32)
    x[::17] = np.nan                     # missing numerics (imputed by the mean)
    a[5::23] = -1                        # missing categoricals (imputed by the mode)
    y[7::41] = -1                        # missing responses (no metrics row)
    w = rng.integers(0, 4, n).astype(float)
    w[3::29] = np.nan
    off = rng.normal(0, 0.3, n)
    off[11::53] = np.nan
    return {"a": a, "b": b, "x": x, "z": z, "w": w, "off": off, "y": y}


@pytest.fixture(scope="module")
def frame(node):
    make_frame(node, "cm_t", _data(), chunk_rows=450, enums=_ENUMS)
    return "cm_t"


def _same(got: dict, ref: dict) -> None:
    got, ref = dict(got), dict(ref)
    for k in _GLM_KEYS:          # the GLM's own deviances and AIC replace these in training metrics
        got.pop(k, None)
        ref.pop(k, None)
    assert json.dumps(got, sort_keys=True) == json.dumps(ref, sort_keys=True)


@pytest.fixture
def kernel_calls(monkeypatch):
    """How many chunks were scored from cached rows."""
    calls = []
    orig = kernels.predict_mu_split

    def spy(*args):
        calls.append(args[0].shape[0])
        return orig(*args)

    monkeypatch.setattr(kernels, "predict_mu_split", spy)
    return calls


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32])
@pytest.mark.parametrize("link", [1, 5, 6])
def test_mu_kernel_has_the_bits_of_the_scorer_kernels(dtype, link):
    """``predict_mu_split`` = ``predict_eta_split`` then ``link_inverse_array``, bit for bit, also at
    the extremes of the logit (signed zeros, infinities, exp under/overflow); NaN on bad rows."""
    rng = np.random.default_rng(link)
    n, sizes = 4000, [3, 7, 5]
    offs = np.cumsum([0] + sizes[:-1])
    C = np.stack([rng.integers(-1, s, n) for s in sizes], 1)
    C = np.where(C < 0, -1, C + offs).astype(dtype)
    D = rng.normal(0, 4, (n, 2))
    d0 = sum(sizes)
    beta = rng.normal(0, 2, d0 + 3)
    off = rng.normal(0, 30, n)
    off[:12] = [0.0, -0.0, np.inf, -np.inf, 745.0, -745.0, 709.0, -709.0, 1e-300, -1e-300, 40.0, -40.0]
    D[:12] = 0.0
    beta[0] = 0.0
    C[:12] = -1
    bad = rng.random(n) < 0.05
    eta, want, got = np.empty(n), np.empty(n), np.empty(n)
    kernels.predict_eta_split(C, D, d0, beta, off, eta)
    kernels.link_inverse_array(link, 1.0, eta, want)
    want[bad] = np.nan
    kernels.predict_mu_split(C, D, d0, beta, off, bad, link, 1.0, got)
    assert np.array_equal(np.isnan(got), np.isnan(want)) and bad.any()
    ok = ~np.isnan(want)
    assert got[ok].tobytes() == want[ok].tobytes()
    if link == 1:       # and against scipy's logistic
        from scipy.special import expit
        np.testing.assert_allclose(got[ok], expit(eta[ok]), rtol=1e-15, atol=1e-300)


def _params(key, **kw):
    return dict({"training_frame": "cm_t", "y": "y", "x": ["a", "b", "x", "z"], "family": "binomial",
                 "lambda_value": 1e-4, "alpha": 0.5, "model_id": key}, **kw)


@pytest.mark.parametrize("key,extra", [
    ("cm_std", {}),
    ("cm_nostd", {"standardize": False}),
    ("cm_path", {"lambda_search": True, "nlambdas": 6, "lambda_value": None}),
    ("cm_path_nostd", {"lambda_search": True, "nlambdas": 5, "lambda_value": None, "standardize": False,
                       "use_all_factor_levels": True}),
    ("cm_weights", {"weights_column": "w"}),
    ("cm_offset", {"offset_column": "off"}),
    ("cm_skip", {"missing_values_handling": "Skip", "weights_column": "w"}),
    ("cm_cv", {"nfolds": 3, "seed": 5}),
    ("cm_probit", {"link": "probit", "offset_column": "off"}),
    ("cm_cloglog", {"link": "cloglog", "weights_column": "w"}),
])
def test_training_metrics_from_the_cache_equal_the_scoring_path(node, frame, kernel_calls, key, extra):
    algos.train(node, "glm", _params(key, **extra))
    model = algos.get_model(node, key)
    nchunks = node.catalog.get(frame).nchunks
    assert len(kernel_calls) == nchunks                  # every chunk scored from its cached rows
    assert sum(kernel_calls) == node.catalog.get(frame).nrow
    ref = algos.model_performance(node, key, frame)
    assert len(kernel_calls) == nchunks                  # the reference decoded the frame again
    _same(model.output["training_metrics"], ref)
    assert model.output["default_threshold"] == ref["default_threshold"]
    # and against scikit-learn on the node's own predictions of the rows that count
    algos.predict(node, key, frame, f"{key}_pred")
    p = frame_columns(node, f"{key}_pred")["Y"]
    cols = frame_columns(node, frame)
    y, w = cols["y"].astype(float), np.ones_like(p)
    if extra.get("weights_column"):
        w = np.nan_to_num(cols["w"], nan=0.0)
    ok = (y >= 0) & ~np.isnan(p) & (w > 0)
    m = model.output["training_metrics"]
    assert m["nobs"] == int(ok.sum())
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y[ok], p[ok], sample_weight=w[ok]), rel=1e-12)
    assert m["logloss"] == pytest.approx(skm.log_loss(y[ok], p[ok], sample_weight=w[ok]), rel=1e-12)
    if extra.get("missing_values_handling") == "Skip":
        assert m["nobs"] < int(((y >= 0) & (w > 0)).sum())          # rows with a missing predictor left out


def test_no_categorical_predictor_takes_the_scoring_path(node, frame, kernel_calls):
    algos.train(node, "glm", _params("cm_numeric", x=["x", "z"]))
    assert not kernel_calls                              # nothing cached: the scoring path
    _same(algos.get_model(node, "cm_numeric").output["training_metrics"],
          algos.model_performance(node, "cm_numeric", frame))


def test_without_a_session_the_scoring_path_gives_the_same_metrics(node, frame, kernel_calls, monkeypatch):
    algos.train(node, "glm", _params("cm_cached"))
    assert kernel_calls
    monkeypatch.setattr(builder, "new_session_id", lambda: None)     # no session: no cache
    n = len(kernel_calls)
    algos.train(node, "glm", _params("cm_uncached"))
    assert len(kernel_calls) == n
    a = algos.get_model(node, "cm_cached").output["training_metrics"]
    b = algos.get_model(node, "cm_uncached").output["training_metrics"]
    assert a["logloss"] == pytest.approx(b["logloss"], rel=1e-9)        # the fits agree to rounding
    _same(b, algos.model_performance(node, "cm_uncached", frame))


def test_a_chunk_missing_from_the_cache_is_decoded(node, frame, monkeypatch):
    """A cache without some chunks (a member that restarted): those are scored from their columns."""
    from shoal_server.algos.glm import tasks

    orig = tasks.CachedBinomialMetricsTask.map

    def forget(self, ctx, chunk_idx, chunks, params):
        if chunk_idx % 2 == 0:
            with tasks._LOCK:
                tasks._cache(ctx.node).get(params["session"], {}).pop(chunk_idx, None)
        return orig(self, ctx, chunk_idx, chunks, params)

    monkeypatch.setattr(tasks.CachedBinomialMetricsTask, "map", forget)
    algos.train(node, "glm", _params("cm_partial", weights_column="w"))
    _same(algos.get_model(node, "cm_partial").output["training_metrics"],
          algos.model_performance(node, "cm_partial", frame))


# ------------------------------------------------------------------------------------------- 3 nodes
@pytest.fixture(scope="module")
def cluster():
    with fake_cluster(3, 63700) as nodes:
        yield nodes


def _spread(nodes, key, data, chunk_rows):
    """Chunk i of every column on ``home_of(i, members)``; the header on every node."""
    members = sorted(n.self_id for n in nodes)
    by_id = {n.self_id: n for n in nodes}
    headers = [ColumnHeader(nm, ColType.ENUM, tuple(_ENUMS[nm])) if nm in _ENUMS else ColumnHeader(nm, ColType.REAL)
               for nm in data]
    nrow = len(data["y"])
    starts = list(range(0, nrow, chunk_rows)) + [nrow]
    for i in range(len(starts) - 1):
        lo, hi = starts[i], starts[i + 1]
        items = []
        for c, (nm, col) in enumerate(data.items()):
            if nm in _ENUMS:
                items.append((c, i, encode(ColType.ENUM, np.asarray(col[lo:hi], np.int32))))
            else:
                part = np.asarray(col[lo:hi], np.float64)
                items.append((c, i, encode(ColType.REAL, part, np.isnan(part))))
        by_id[home_of(i, members)].chunks.put_many(key, items)
    header = FrameHeader(key, tuple(headers), np.asarray(starts, np.int64), tuple(members))
    for n in nodes:
        n.catalog.put(header)


@pytest.mark.parametrize("extra", [{}, {"weights_column": "w", "standardize": False}])
def test_three_nodes_training_metrics_equal_the_scoring_path(cluster, extra, monkeypatch):
    calls = []
    orig = kernels.predict_mu_split
    monkeypatch.setattr(kernels, "predict_mu_split", lambda *a: (calls.append(a[0].shape[0]), orig(*a))[1])
    if "cm3_t" not in cluster[0].catalog:
        _spread(cluster, "cm3_t", _data(2100, 9), 300)
    coord = cluster[0]
    params = dict(_params("cm3", **extra), training_frame="cm3_t")
    model = train_glm(coord, params, model_key="cm3")
    model.key = "cm3"
    header = coord.catalog.get("cm3_t")
    assert len(calls) == header.nchunks                  # each chunk from the cache of the node that holds it
    assert sum(len(getattr(n, "_glm_inputs", {})) for n in cluster) == 0      # dropped everywhere
    from shoal_server.algos.common.scoring import model_metrics
    ref = model_metrics(coord, model, "cm3_t")
    _same(model.output["training_metrics"], ref)

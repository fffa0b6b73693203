"""Regression metrics equal scikit-learn's, with and without weights, on arrays and on frames."""
import json
import math

import numpy as np
import pytest
from sklearn import metrics as skm

from shoal_server.config import NodeConfig
from shoal_server.errors import InvalidParameter
from shoal_server.metrics import regression_metrics, regression_metrics_from_arrays

from metrics_helpers import make_frame

REL = 1e-12


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    n = 1500
    f = rng.random(n) * 3 + 0.2
    y = rng.poisson(f).astype(np.float64) + 0.5 * rng.random(n)
    w = rng.random(n) * 3
    return y, f, w


@pytest.mark.parametrize("weighted", [False, True])
def test_gaussian_metrics_equal_sklearn(data, weighted):
    y, f, w = data
    sw = w if weighted else None
    r = regression_metrics_from_arrays(y, f, sw)
    assert r["nobs"] == y.size
    assert r["mse"] == pytest.approx(skm.mean_squared_error(y, f, sample_weight=sw), rel=REL)
    assert r["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(y, f, sample_weight=sw)), rel=REL)
    assert r["mae"] == pytest.approx(skm.mean_absolute_error(y, f, sample_weight=sw), rel=REL)
    assert r["rmsle"] == pytest.approx(math.sqrt(skm.mean_squared_log_error(y, f, sample_weight=sw)), rel=REL)
    assert r["r2"] == pytest.approx(skm.r2_score(y, f, sample_weight=sw), rel=REL)
    assert r["mean_residual_deviance"] == pytest.approx(r["mse"], rel=REL)
    ybar = np.average(y, weights=sw)
    ww = np.ones_like(y) if sw is None else sw
    assert r["null_deviance"] == pytest.approx(np.sum(ww * (y - ybar) ** 2), rel=REL)
    assert r["residual_deviance"] == pytest.approx(np.sum(ww * (y - f) ** 2), rel=REL)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dist,params,ref", [
    ("poisson", {}, lambda y, f, w: skm.mean_poisson_deviance(y, f, sample_weight=w)),
    ("gamma", {}, lambda y, f, w: skm.mean_gamma_deviance(y, f, sample_weight=w)),
    ("tweedie", {"tweedie_power": 1.5}, lambda y, f, w: skm.mean_tweedie_deviance(y, f, sample_weight=w, power=1.5)),
    ("tweedie", {"tweedie_power": 3.0}, lambda y, f, w: skm.mean_tweedie_deviance(y, f, sample_weight=w, power=3.0)),
    ("tweedie", {"tweedie_power": 1.0}, lambda y, f, w: skm.mean_poisson_deviance(y, f, sample_weight=w)),
    ("laplace", {}, lambda y, f, w: skm.mean_absolute_error(y, f, sample_weight=w)),
    ("quantile", {"quantile_alpha": 0.2}, lambda y, f, w: skm.mean_pinball_loss(y, f, alpha=0.2, sample_weight=w)),
])
def test_mean_residual_deviance_equals_sklearn(data, weighted, dist, params, ref):
    y, f, w = data
    sw = w if weighted else None
    r = regression_metrics_from_arrays(y, f, sw, distribution=dist, **params)
    assert r["mean_residual_deviance"] == pytest.approx(ref(y, f, sw), rel=REL)
    assert r["mse"] == pytest.approx(skm.mean_squared_error(y, f, sample_weight=sw), rel=REL)


def test_huber_deviance_by_hand():
    y = np.array([0.0, 1.0, 5.0, -3.0])
    f = np.array([0.5, 1.0, 1.0, 0.0])
    # |r| = 0.5, 0, 4, 3 with delta 1: 0.25, 0, 2*4-1, 2*3-1
    r = regression_metrics_from_arrays(y, f, distribution="huber", huber_delta=1.0)
    assert r["mean_residual_deviance"] == pytest.approx((0.25 + 0 + 7 + 5) / 4, rel=REL)


def test_rmsle_is_none_when_a_value_is_at_most_minus_one_and_rows_with_missing_are_skipped():
    r = regression_metrics_from_arrays([0.0, -1.0, 2.0], [0.5, 0.0, 1.0])
    assert r["rmsle"] is None and r["mse"] == pytest.approx((0.25 + 1 + 1) / 3)
    r = regression_metrics_from_arrays([1.0, np.nan, 2.0, 4.0], [1.5, 0.0, np.nan, 3.0], [1.0, 1.0, 1.0, 0.0])
    assert r["nobs"] == 1 and r["mse"] == 0.25 and r["r2"] is None


def test_integer_weights_equal_repeated_rows(data):
    y, f, _ = data
    w = np.random.default_rng(5).integers(0, 4, y.size).astype(float)
    a = regression_metrics_from_arrays(y, f, w, distribution="poisson")
    b = regression_metrics_from_arrays(np.repeat(y, w.astype(int)), np.repeat(f, w.astype(int)), distribution="poisson")
    for k in ("mse", "mae", "rmsle", "r2", "mean_residual_deviance", "null_deviance", "residual_deviance"):
        assert a[k] == pytest.approx(b[k], rel=1e-12), k


def test_negative_weights_and_unknown_distribution_are_refused():
    with pytest.raises(InvalidParameter):
        regression_metrics_from_arrays([1.0], [1.0], [-1.0])
    with pytest.raises(InvalidParameter):
        regression_metrics_from_arrays([1.0], [1.0], distribution="cauchy")


def test_frame_metrics_equal_array_metrics_bit_for_bit_for_any_chunking(node, data):
    y, f, w = data
    want = regression_metrics_from_arrays(y, f, w, distribution="tweedie", tweedie_power=1.3)
    sizes = [0, 1, 2, 500, 0, 3, y.size - 506]
    for key, chunking in (("one", y.size), ("tiny", 7), ("uneven", sizes)):
        make_frame(node, key, {"y": y, "f": f, "w": w}, chunking)
        got = regression_metrics(node, key, "y", "f", "w", distribution="tweedie", tweedie_power=1.3)
        assert got == want, key
    json.dumps(want, allow_nan=False)


def test_same_bits_on_one_and_two_threads(data):
    from shoal_server.node import Node
    y, f, w = data
    outs = []
    for threads in (1, 2):
        with Node(NodeConfig(threads=threads)) as n:
            make_frame(n, "f", {"y": y, "f": f, "w": w}, 13)
            outs.append(regression_metrics(n, "f", "y", "f", "w"))
    assert outs[0] == outs[1]


def test_empty_frame_gives_none_metrics(node):
    make_frame(node, "e", {"y": np.array([np.nan, np.nan]), "f": np.array([1.0, 2.0])}, 1)
    r = regression_metrics(node, "e", "y", "f")
    assert r["nobs"] == 0 and r["mse"] is None


def test_matches_h2o_make_metrics_on_the_same_predictions():
    """Expected values printed by H2O-3 3.46 ``h2o.make_metrics(pred, actual, distribution=...)``."""
    rng = np.random.default_rng(3)
    n = 300
    rng.integers(0, 2, n), rng.random(n), rng.random(n), rng.integers(1, 4, n)  # draws of the binomial check
    f = rng.random(n) * 3 + 0.1
    t = rng.poisson(f).astype(float)
    g = regression_metrics_from_arrays(t, f)
    assert g["mean_residual_deviance"] == pytest.approx(1.809790105617427, rel=1e-12)
    assert g["rmsle"] == pytest.approx(0.5098950299911863, rel=1e-12)
    assert g["r2"] == pytest.approx(0.2334104741472246, rel=1e-12)
    assert g["mae"] == pytest.approx(1.02788932698226, rel=1e-12)
    assert regression_metrics_from_arrays(t, f, distribution="poisson")["mean_residual_deviance"] == \
        pytest.approx(1.1611578737406896, rel=1e-12)
    gam = regression_metrics_from_arrays(t + 0.5, f, distribution="gamma")
    assert gam["mean_residual_deviance"] == pytest.approx(0.7369789162419375, rel=1e-12)
    assert gam["rmsle"] == pytest.approx(0.42601202875209154, rel=1e-12)
    t2 = t.copy()
    t2[0] = -0.5
    assert regression_metrics_from_arrays(t2, f)["rmsle"] == pytest.approx(0.5224136603574048, rel=1e-12)
    t2[0] = -1.0  # H2O reports Infinity; JSON has no infinity, so the metric is absent
    assert regression_metrics_from_arrays(t2, f)["rmsle"] is None


class _Job:
    def __init__(self, cancel=False):
        self.progress, self.cancel = [], cancel

    def update(self, progress=None, message=None):
        self.progress.append(progress)

    def check(self):
        if self.cancel:
            from shoal_server.errors import JobCancelled
            raise JobCancelled("cancelled by test")


def test_progress_fills_the_given_span_and_cancel_stops(node, data):
    from shoal_server.errors import JobCancelled
    y, f, w = data
    make_frame(node, "f", {"y": y, "f": f, "w": w}, 100)
    job = _Job()
    regression_metrics(node, "f", "y", "f", "w", job=job, span=(0.2, 0.6))
    assert all(0.2 <= p <= 0.6 for p in job.progress) and job.progress[-1] == pytest.approx(0.6)
    with pytest.raises(JobCancelled):
        regression_metrics(node, "f", "y", "f", "w", job=_Job(cancel=True))

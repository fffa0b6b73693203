"""Multinomial metrics equal scikit-learn's (and H2O's definitions where sklearn has none)."""
import json

import numpy as np
import pytest
from sklearn import metrics as skm

from shoal_server.errors import InvalidParameter
from shoal_server.metrics import multinomial_metrics, multinomial_metrics_from_arrays

from metrics_helpers import make_frame

REL = 1e-12


def _scored(n=900, K=4, seed=7):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, K, n)
    logits = rng.standard_normal((n, K)) + 1.2 * np.eye(K)[a]
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    w = rng.random(n) * 2
    return a, P, w


@pytest.mark.parametrize("weighted", [False, True])
def test_metrics_equal_sklearn(weighted):
    a, P, w = _scored()
    sw = w if weighted else None
    K = P.shape[1]
    r = multinomial_metrics_from_arrays(a, P, sw, domain=["a", "b", "c", "d"])
    assert r["logloss"] == pytest.approx(skm.log_loss(a, P, sample_weight=sw), rel=REL)
    pt = P[np.arange(a.size), a]
    assert r["mse"] == pytest.approx(np.average((1 - pt) ** 2, weights=sw), rel=REL)
    hits = [row[1] for row in r["hit_ratio_table"]["data"]]
    assert len(hits) == K
    for k in range(1, K):
        assert hits[k - 1] == pytest.approx(skm.top_k_accuracy_score(a, P, k=k, sample_weight=sw), rel=REL)
    assert hits[-1] == pytest.approx(1.0, rel=REL)
    cm = skm.confusion_matrix(a, P.argmax(axis=1), sample_weight=sw)
    got = np.array([row[1:1 + K] for row in r["confusion_matrix"]["data"][:K]], float)
    assert np.allclose(got, cm, rtol=1e-12)
    assert r["confusion_matrix"]["columns"] == ["", "a", "b", "c", "d", "Error", "Rate"]
    bal = skm.balanced_accuracy_score(a, P.argmax(axis=1), sample_weight=sw)
    assert r["mean_per_class_error"] == pytest.approx(1 - bal, rel=1e-11)
    total = r["confusion_matrix"]["data"][K]
    assert total[0] == "Total"
    assert total[1 + K] == pytest.approx(1 - skm.accuracy_score(a, P.argmax(1), sample_weight=sw))
    assert r["auc_ovr_macro"] == pytest.approx(skm.roc_auc_score(a, P, multi_class="ovr", sample_weight=sw), rel=REL)
    assert r["auc_ovr_weighted"] == pytest.approx(
        skm.roc_auc_score(a, P, multi_class="ovr", average="weighted", sample_weight=sw), rel=REL)
    per_class = {row[0]: row[3] for row in r["multinomial_auc_table"]["data"]}
    for k, name in enumerate("abcd"):
        want = skm.roc_auc_score(a == k, P[:, k], sample_weight=sw)
        assert per_class[f"{name} vs Rest"] == pytest.approx(want, rel=REL)
    counts = np.bincount(a, weights=sw, minlength=K)
    assert r["null_deviance"] == pytest.approx(-2 * np.sum(counts * np.log(counts / counts.sum())), rel=REL)
    assert r["residual_deviance"] == pytest.approx(2 * skm.log_loss(a, P, sample_weight=sw, normalize=False), rel=REL)


def test_ovo_auc_equals_sklearn():
    a, P, _ = _scored(K=3)
    r = multinomial_metrics_from_arrays(a, P)
    assert r["auc_ovo_macro"] == pytest.approx(skm.roc_auc_score(a, P, multi_class="ovo"), rel=REL)
    assert r["auc_ovo_weighted"] == pytest.approx(skm.roc_auc_score(a, P, multi_class="ovo", average="weighted"),
                                                  rel=REL)


def test_matches_h2o_make_metrics_on_the_same_predictions():
    """Expected values printed by H2O-3 3.46 ``h2o.make_metrics(pred, actual, auc_type="MACRO_OVR")``."""
    rng = np.random.default_rng(3)
    n = 300
    # the draws of the binomial and regression checks of the same script come first
    rng.integers(0, 2, n), rng.random(n), rng.random(n), rng.integers(1, 4, n)
    rng.poisson(rng.random(n) * 3 + 0.1)
    a = rng.integers(0, 4, n)
    P = rng.dirichlet(np.ones(4), n)
    dom = ["c0", "c1", "c2", "c3"]
    r = multinomial_metrics_from_arrays(a, P, domain=dom)
    assert r["logloss"] == pytest.approx(1.9151756487219662, rel=1e-12)
    assert r["mse"] == pytest.approx(0.6182107580411064, rel=1e-12)
    assert r["mean_per_class_error"] == pytest.approx(0.7621506970771676, rel=1e-12)
    hits = [row[1] for row in r["hit_ratio_table"]["data"]]
    assert hits == pytest.approx([0.236667, 0.466667, 0.683333, 1], rel=1e-5)
    assert [row[1:5] for row in r["confusion_matrix"]["data"]] == [
        [16, 17, 25, 16], [21, 18, 19, 20], [16, 27, 18, 19], [15, 22, 12, 19], [68, 84, 74, 74]]
    assert r["confusion_matrix"]["data"][0][6] == "58 / 74"
    auc = {row[0]: row[3] for row in r["multinomial_auc_table"]["data"]}
    want = {"c0 vs Rest": 0.453301, "c3 vs Rest": 0.492267, "Macro OVR": 0.462514, "Weighted OVR": 0.461423,
            "Class c0 vs. c2": 0.413598, "Class c2 vs. c3": 0.477206, "Macro OVO": 0.462783, "Weighted OVO": 0.462289}
    for k, v in want.items():
        assert auc[k] == pytest.approx(v, abs=1e-6), k


def test_hit_ratios_stop_at_ten_classes():
    a, P, _ = _scored(n=600, K=12)
    r = multinomial_metrics_from_arrays(a, P, auc_type="none")
    assert [row[0] for row in r["hit_ratio_table"]["data"]] == list(range(1, 11))
    assert r["hit_ratio_table"]["data"][9][1] == pytest.approx(skm.top_k_accuracy_score(a, P, k=10), rel=REL)
    assert r["auc_ovr_macro"] is None


def test_frame_metrics_equal_array_metrics_bit_for_bit_for_any_chunking(node):
    a, P, w = _scored(n=500, K=3)
    dom = ["x", "y", "z"]
    want = multinomial_metrics_from_arrays(a, P, w, domain=dom)
    cols = {"a": ("enum", a.astype(np.int32), dom), "p0": P[:, 0], "p1": P[:, 1], "p2": P[:, 2], "w": w}
    for key, chunking in (("one", a.size), ("tiny", 3), ("uneven", [0, 7, 250, 0, 243])):
        make_frame(node, key, cols, chunking)
        assert multinomial_metrics(node, key, "a", ["p0", "p1", "p2"], "w") == want, key
    json.dumps(want, allow_nan=False)


def test_bad_inputs_are_refused(node):
    with pytest.raises(InvalidParameter):
        multinomial_metrics_from_arrays([0, 3], np.full((2, 3), 1 / 3))
    with pytest.raises(InvalidParameter):
        multinomial_metrics_from_arrays([0, 1], np.full((2, 3), 1 / 3), domain=["a", "b"])
    a, P, _ = _scored(n=20, K=3)
    make_frame(node, "f", {"a": ("enum", a.astype(np.int32), ["x", "y", "z"]), "p0": P[:, 0], "p1": P[:, 1]}, 5)
    with pytest.raises(InvalidParameter):
        multinomial_metrics(node, "f", "a", ["p0", "p1"])

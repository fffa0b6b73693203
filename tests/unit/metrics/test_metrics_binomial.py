"""Binomial metrics equal scikit-learn's; the tables follow H2O's definitions, checked by hand."""
import json

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from shoal_server.config import NodeConfig
from shoal_server.errors import InvalidParameter
from shoal_server.metrics import binomial_metrics, binomial_metrics_from_arrays
from shoal_server.node import Node

from metrics_helpers import make_frame

REL = 1e-12


def _scored(n=1200, seed=3, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.float64)
    p = np.clip(0.35 * rng.random(n) + 0.4 * y * rng.random(n) + 0.1, 0.001, 0.999)
    if ties:
        p = np.round(p, 2)
    w = rng.random(n) * 2
    return y, p, w


def _row(tbl, name):
    return next(r for r in tbl["data"] if r[0] == name)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ties", [False, True])
def test_scalar_metrics_equal_sklearn(weighted, ties):
    y, p, w = _scored(ties=ties)
    sw = w if weighted else None
    r = binomial_metrics_from_arrays(y, p, sw)
    auc = skm.roc_auc_score(y, p, sample_weight=sw)
    assert r["auc"] == pytest.approx(auc, rel=REL)
    assert r["gini"] == pytest.approx(2 * auc - 1, rel=1e-11)
    assert r["aucpr"] == pytest.approx(skm.average_precision_score(y, p, sample_weight=sw), rel=REL)
    assert r["logloss"] == pytest.approx(skm.log_loss(y, p, sample_weight=sw), rel=REL)
    assert r["mse"] == pytest.approx(skm.mean_squared_error(y, p, sample_weight=sw), rel=REL)
    assert r["r2"] == pytest.approx(skm.r2_score(y, p, sample_weight=sw), rel=1e-11)
    assert r["residual_deviance"] == pytest.approx(2 * skm.log_loss(y, p, sample_weight=sw, normalize=False), rel=REL)
    ybar = np.average(y, weights=sw)
    ww = np.ones_like(y) if sw is None else sw
    null = -2 * np.sum(ww * (y * np.log(ybar) + (1 - y) * np.log(1 - ybar)))
    assert r["null_deviance"] == pytest.approx(null, rel=REL)
    assert r["nobs"] == y.size


def test_ks_is_the_two_sample_statistic_of_the_scores():
    y, p, _ = _scored()
    r = binomial_metrics_from_arrays(y, p)
    assert r["ks"] == pytest.approx(stats.ks_2samp(p[y == 1], p[y == 0]).statistic, rel=REL)
    ks_col = r["gains_lift_table"]["columns"].index("kolmogorov_smirnov")
    assert r["kolmogorov_smirnov"] == max(row[ks_col] for row in r["gains_lift_table"]["data"])


@pytest.mark.parametrize("weighted", [False, True])
def test_thresholds_table_rows_equal_sklearn_at_each_threshold(weighted):
    y, p, w = _scored(n=300, ties=True)
    sw = w if weighted else None
    r = binomial_metrics_from_arrays(y, p, sw)
    t = r["thresholds_and_metric_scores"]
    assert t["columns"][:11] == ["threshold", "f1", "f2", "f0point5", "accuracy", "precision", "recall",
                                 "specificity", "absolute_mcc", "min_per_class_accuracy", "mean_per_class_accuracy"]
    assert t["columns"][11:] == ["tns", "fns", "fps", "tps", "tnr", "fnr", "fpr", "tpr", "idx"]
    ths = [row[0] for row in t["data"]]
    assert ths == sorted(set(p.tolist()), reverse=True)  # every distinct score, decreasing
    c = {name: i for i, name in enumerate(t["columns"])}
    for row in t["data"][::7]:
        pred = (p >= row[0]).astype(float)
        tn, fp, fn, tp = skm.confusion_matrix(y, pred, sample_weight=sw, labels=[0, 1]).ravel()
        assert row[c["tps"]] == pytest.approx(tp, rel=REL) and row[c["fps"]] == pytest.approx(fp, rel=REL)
        assert row[c["tns"]] == pytest.approx(tn, rel=1e-9, abs=1e-9)
        assert row[c["fns"]] == pytest.approx(fn, rel=1e-9, abs=1e-9)
        assert row[c["f1"]] == pytest.approx(skm.f1_score(y, pred, sample_weight=sw), rel=1e-11)
        assert row[c["f2"]] == pytest.approx(skm.fbeta_score(y, pred, beta=2, sample_weight=sw), rel=1e-11)
        assert row[c["f0point5"]] == pytest.approx(skm.fbeta_score(y, pred, beta=0.5, sample_weight=sw), rel=1e-11)
        assert row[c["precision"]] == pytest.approx(skm.precision_score(y, pred, sample_weight=sw), rel=1e-11)
        assert row[c["recall"]] == pytest.approx(skm.recall_score(y, pred, sample_weight=sw), rel=1e-11)
        assert row[c["accuracy"]] == pytest.approx(skm.accuracy_score(y, pred, sample_weight=sw), rel=1e-11)
        assert row[c["absolute_mcc"]] == pytest.approx(abs(skm.matthews_corrcoef(y, pred, sample_weight=sw)),
                                                       rel=1e-9, abs=1e-12)
        assert row[c["specificity"]] == pytest.approx(skm.recall_score(1 - y, 1 - pred, sample_weight=sw), rel=1e-11)
        bal = skm.balanced_accuracy_score(y, pred, sample_weight=sw)
        assert row[c["mean_per_class_accuracy"]] == pytest.approx(bal, rel=1e-11)
    assert [row[-1] for row in t["data"]] == list(range(len(t["data"])))


def test_max_criteria_point_at_the_best_row_and_the_confusion_matrix_uses_max_f1():
    y, p, w = _scored(n=400, ties=True)
    r = binomial_metrics_from_arrays(y, p, w, domain=["no", "yes"])
    t, m = r["thresholds_and_metric_scores"], r["max_criteria_and_metric_scores"]
    assert m["columns"] == ["metric", "threshold", "value", "idx"]
    names = [row[0] for row in m["data"]]
    assert names[:10] == ["max f1", "max f2", "max f0point5", "max accuracy", "max precision", "max recall",
                          "max specificity", "max absolute_mcc", "max min_per_class_accuracy",
                          "max mean_per_class_accuracy"]
    for metric, thr, value, idx in m["data"]:
        col = t["columns"].index(metric[4:])
        values = [row[col] for row in t["data"]]
        assert value == max(v for v in values if v is not None)
        assert t["data"][idx][0] == thr and t["data"][idx][col] == value
        assert idx == values.index(value)  # the first (highest) threshold reaching the max, as H2O
    thr = _row(m, "max f1")[1]
    assert r["default_threshold"] == thr
    pred = (p >= thr).astype(float)
    cm = skm.confusion_matrix(y, pred, sample_weight=w)
    got = r["confusion_matrix"]
    assert got["columns"] == ["", "no", "yes", "Error", "Rate"]
    assert np.allclose([got["data"][0][1:3], got["data"][1][1:3]], cm, rtol=1e-12)
    assert got["data"][1][3] == pytest.approx(cm[1, 0] / cm[1].sum(), rel=1e-12)
    # H2O: 1 - the best mean per-class accuracy over all thresholds
    best_bal = max(skm.balanced_accuracy_score(y, (p >= row[0]).astype(float), sample_weight=w) for row in t["data"])
    assert r["mean_per_class_error"] == pytest.approx(1 - best_bal, rel=1e-11)


def test_gains_lift_table_by_hand():
    # p = 0.1 .. 1.0 (one row each); type-7 quantiles at q are 0.1 + 0.9 q, so the cut points are
    # 0.991 .. 0.955 (no rows between them), 0.91, 0.865, 0.82, 0.73, ..., 0.19, 0.1.
    p = np.arange(1, 11) / 10
    y = np.array([0, 0, 1, 0, 1, 0, 1, 1, 0, 1], float)
    gl = binomial_metrics_from_arrays(y, p)["gains_lift_table"]
    assert gl["columns"] == ["group", "cumulative_data_fraction", "lower_threshold", "lift", "cumulative_lift",
                             "response_rate", "score", "cumulative_response_rate", "cumulative_score",
                             "capture_rate", "cumulative_capture_rate", "gain", "cumulative_gain",
                             "kolmogorov_smirnov"]
    rows = gl["data"]
    assert len(rows) == 16
    thr = [r[2] for r in rows]
    assert thr == pytest.approx([0.991, 0.982, 0.973, 0.964, 0.955, 0.91, 0.865, 0.82, 0.73, 0.64, 0.55, 0.46,
                                 0.37, 0.28, 0.19, 0.1])
    # group 1: the row p=1.0 (event); avg response rate 0.5
    assert rows[0] == pytest.approx([1, 0.1, 0.991, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2, 100.0, 100.0, 0.2])
    # group 2: empty
    assert rows[1] == pytest.approx([2, 0.1, 0.982, 0.0, 2.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.2, -100.0, 100.0, 0.2])
    # group 7: the row p=0.9 (non-event)
    assert rows[6] == pytest.approx([7, 0.2, 0.865, 0.0, 1.0, 0.0, 0.9, 0.5, 0.95, 0.0, 0.2, -100.0, 0.0, 0.0])
    # group 8: empty (0.82 <= p < 0.865); group 9: p=0.8 (event)
    assert rows[8] == pytest.approx([9, 0.3, 0.73, 2.0, 4 / 3, 1.0, 0.8, 2 / 3, 0.9, 0.2, 0.4, 100.0, 100 / 3,
                                     0.4 - 0.2])
    # last group: p=0.1 (non-event)
    assert rows[15] == pytest.approx([16, 1.0, 0.1, 0.0, 1.0, 0.0, 0.1, 0.5, 0.55, 0.0, 1.0, -100.0, 0.0, 0.0])


def test_gains_lift_with_integer_weights_equals_repeated_rows():
    y, p, _ = _scored(n=200, ties=True)
    w = np.random.default_rng(9).integers(0, 4, y.size).astype(float)
    a = binomial_metrics_from_arrays(y, p, w)
    b = binomial_metrics_from_arrays(np.repeat(y, w.astype(int)), np.repeat(p, w.astype(int)))
    assert np.allclose(np.array(a["gains_lift_table"]["data"], float), np.array(b["gains_lift_table"]["data"], float),
                       rtol=1e-12)
    assert a["auc"] == pytest.approx(b["auc"], rel=1e-12) and a["aucpr"] == pytest.approx(b["aucpr"], rel=1e-12)


def test_binned_auc_is_exact_with_few_scores_and_close_with_many():
    y, p, w = _scored(n=3000, ties=True)  # ~90 distinct scores < 400 bins
    exact, binned = binomial_metrics_from_arrays(y, p, w), binomial_metrics_from_arrays(y, p, w, auc_type="binned")
    assert binned["auc"] == pytest.approx(exact["auc"], rel=1e-12)
    assert binned["aucpr"] == pytest.approx(exact["aucpr"], rel=1e-12)
    y, p, w = _scored(n=20000)
    exact = binomial_metrics_from_arrays(y, p, w)
    binned = binomial_metrics_from_arrays(y, p, w, auc_type="binned", nbins=400)
    assert len(binned["thresholds_and_metric_scores"]["data"]) <= 400
    assert binned["auc"] == pytest.approx(exact["auc"], abs=2e-3)
    assert binned["logloss"] == exact["logloss"]
    assert len(exact["thresholds_and_metric_scores"]["data"]) <= 400 + 18


def test_frame_metrics_equal_array_metrics_bit_for_bit_for_any_chunking(node):
    y, p, w = _scored(n=900, ties=True)
    want = binomial_metrics_from_arrays(y, p, w, domain=["N", "Y"])
    for key, chunking in (("one", y.size), ("tiny", 5), ("uneven", [0, 1, 450, 0, 449])):
        make_frame(node, key, {"y": ("enum", y.astype(np.int32), ["N", "Y"]), "p": p, "w": w}, chunking)
        assert binomial_metrics(node, key, "y", "p", "w") == want, key
    json.dumps(want, allow_nan=False)
    make_frame(node, "num", {"y": y, "p": p}, 50)  # a numeric 0/1 actual column
    assert binomial_metrics(node, "num", "y", "p")["auc"] == pytest.approx(skm.roc_auc_score(y, p), rel=REL)


def test_binned_mode_on_frames_is_deterministic_across_thread_counts():
    y, p, w = _scored(n=3000)
    outs = []
    for threads in (1, 2):
        with Node(NodeConfig(threads=threads)) as n:
            make_frame(n, "f", {"y": y, "p": p, "w": w}, 97)
            outs.append(binomial_metrics(n, "f", "y", "p", "w", auc_type="binned", nbins=50))
    assert outs[0] == outs[1]
    assert len(outs[0]["thresholds_and_metric_scores"]["data"]) <= 50


def test_missing_rows_are_skipped_and_bad_inputs_refused():
    r = binomial_metrics_from_arrays([1, 0, np.nan, 1], [0.9, 0.2, 0.5, np.nan])
    assert r["nobs"] == 2 and r["auc"] == 1.0
    one_class = binomial_metrics_from_arrays([1, 1], [0.9, 0.2])
    assert one_class["auc"] is None and one_class["logloss"] is not None
    json.dumps(one_class, allow_nan=False)
    with pytest.raises(InvalidParameter):
        binomial_metrics_from_arrays([0, 2], [0.1, 0.2])
    with pytest.raises(InvalidParameter):
        binomial_metrics_from_arrays([0, 1], [0.1, 0.2], auc_type="approx")
    empty = binomial_metrics_from_arrays([np.nan], [0.5])
    assert empty["nobs"] == 0 and empty["auc"] is None


def test_matches_h2o_make_metrics_on_the_same_predictions():
    """Expected values printed by H2O-3 3.46 ``h2o.make_metrics(pred, actual[, weights])`` on this data."""
    rng = np.random.default_rng(3)
    n = 300
    y = rng.integers(0, 2, n)
    p = np.round(np.clip(0.35 * rng.random(n) + 0.4 * y * rng.random(n) + 0.1, 0.001, 0.999), 2)
    w = rng.integers(1, 4, n).astype(float)
    r = binomial_metrics_from_arrays(y, p, domain=["a", "b"])
    assert r["auc"] == pytest.approx(0.8028760668563301, rel=1e-12)
    assert r["logloss"] == pytest.approx(0.5976234207023677, rel=1e-12)
    assert r["mean_per_class_error"] == pytest.approx(0.26644736842105265, rel=1e-12)
    assert r["r2"] == pytest.approx(0.1793901137980084, rel=1e-10)
    assert r["kolmogorov_smirnov"] == pytest.approx(0.45536984352773824, rel=1e-12)
    assert r["gains_lift_table"]["data"][7] == pytest.approx(
        [8, 0.203333, 0.4700, 2.027027, 2.027027, 1.0, 0.510625, 1.0, 0.622951, 0.108108, 0.412162, 102.702703,
         102.702703, 0.412162], rel=1e-5)
    _name, thr, value, idx = _row(r["max_criteria_and_metric_scores"], "max f1")
    assert (thr, idx) == (0.36, 41) and value == pytest.approx(0.727891, rel=1e-5)
    assert _row(r["max_criteria_and_metric_scores"], "max mean_per_class_accuracy")[3] == 33  # H2O's idx
    assert r["confusion_matrix"]["data"][2][1:3] == [154, 146]
    rw = binomial_metrics_from_arrays(y, p, w, domain=["a", "b"])
    assert rw["auc"] == pytest.approx(0.8205787781350482, rel=1e-12)
    assert rw["mean_per_class_error"] == pytest.approx(0.25138041911520115, rel=1e-12)
    assert rw["kolmogorov_smirnov"] == pytest.approx(0.4848431089921277, rel=1e-12)
    assert rw["gains_lift_table"]["data"][7] == pytest.approx(
        [8, 0.319468, 0.42, 1.184236, 1.780981, 0.571429, 0.433175, 0.859375, 0.556354, 0.124138, 0.568966,
         18.423645, 78.098060, 0.482149], rel=1e-5)


def test_auto_auc_type_is_exact_for_small_data_and_binned_above_the_limit(monkeypatch):
    from shoal_server.metrics import binomial as mod
    y, p, w = _scored(n=600)
    assert binomial_metrics_from_arrays(y, p, w, auc_type="auto")["auc_type"] == "exact"
    monkeypatch.setattr(mod, "AUTO_EXACT_MAX_ROWS", 100)
    r = binomial_metrics_from_arrays(y, p, w, auc_type="auto", nbins=50)
    assert r["auc_type"] == "binned" and len(r["thresholds_and_metric_scores"]["data"]) <= 50


def test_predictions_may_live_in_a_separate_frame_of_the_same_layout(node):
    from shoal_server.metrics import multinomial_metrics, multinomial_metrics_from_arrays, regression_metrics, \
        regression_metrics_from_arrays
    y, p, w = _scored(n=300, ties=True)
    make_frame(node, "test", {"y": ("enum", y.astype(np.int32), ["N", "Y"]), "w": w}, 40)
    make_frame(node, "pred", {"p0": 1 - p, "p1": p}, 40)
    assert binomial_metrics(node, "test", "y", "p1", "w", pred_frame_key="pred") == \
        binomial_metrics_from_arrays(y, p, w, domain=["N", "Y"])
    P = np.column_stack([1 - p, p])
    assert multinomial_metrics(node, "test", "y", ["p0", "p1"], "w", pred_frame_key="pred") == \
        multinomial_metrics_from_arrays(y, P, w, domain=["N", "Y"])
    make_frame(node, "num", {"y": y}, 40)
    assert regression_metrics(node, "num", "y", "p1", pred_frame_key="pred") == regression_metrics_from_arrays(y, p)
    make_frame(node, "pred_other_layout", {"p1": p}, 41)
    with pytest.raises(InvalidParameter, match="row layout"):
        binomial_metrics(node, "test", "y", "p1", pred_frame_key="pred_other_layout")

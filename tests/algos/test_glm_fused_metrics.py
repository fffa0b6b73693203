"""Binomial metrics computed while scoring (no scored frame) equal the metrics of the scored frame,
bit for bit, for training, validation and cross-validation; they agree with scikit-learn on the
predictions; and a fit whose converged pass skips the Gram has the coefficients of one that keeps it."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

import shoal_server.algos as algos
from shoal_server.algos.common.scoring import score_frame
from shoal_server.algos.common.frames import delete_frame
from shoal_server.metrics import binomial_metrics

from algo_helpers import frame_columns, make_frame


def _data(n=3000, seed=4):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 6, n)
    h = rng.integers(0, 4, n)
    x = rng.normal(size=n)
    x[::37] = np.nan
    w = rng.integers(1, 4, n).astype(float)
    eta = 0.5 * np.nan_to_num(x) + np.array([0, .4, -.4, .8, -.8, .2])[g] + 0.3 * h
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.int32)
    return {"g": g, "h": h, "x": x, "w": w, "y": y}


@pytest.fixture(scope="module")
def frames(node):
    enums = {"g": list("abcdef"), "h": list("pqrs"), "y": ["N", "Y"]}
    make_frame(node, "fused_t", _data(), chunk_rows=211, enums=enums)
    make_frame(node, "fused_v", _data(900, 5), chunk_rows=97, enums=enums)
    return "fused_t", "fused_v"


def _frame_metrics(node, model, frame_key):
    """The metrics the way ``model_metrics`` computed them before: score into a frame, then the
    ``metrics.binomial`` task over its columns."""
    tmp = f"{model.key}_{frame_key}_scored_ref"
    header = score_frame(node, model, frame_key, tmp, extras=True)
    try:
        return binomial_metrics(node, tmp, "actual", header.columns[2].name, "weight", domain=list(model.domain))
    finally:
        delete_frame(node, tmp)


def _same(a: dict, b: dict) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@pytest.mark.parametrize("weights", [None, "w"])
def test_training_and_validation_metrics_equal_the_scored_frame_metrics(node, frames, weights):
    train, valid = frames
    params = {"training_frame": train, "validation_frame": valid, "y": "y", "x": ["g", "h", "x"],
              "family": "binomial", "lambda_value": 0.0, "model_id": f"fused_{weights}"}
    if weights:
        params["weights_column"] = weights
    model = algos.get_model(node, algos.train(node, "glm", params))
    for key, frame in (("training_metrics", train), ("validation_metrics", valid)):
        got = dict(model.output[key])
        ref = _frame_metrics(node, model, frame)
        for k in ("null_deviance", "residual_deviance", "null_degrees_of_freedom", "residual_degrees_of_freedom",
                  "AIC", "frame"):
            got.pop(k, None)
            ref.pop(k, None)
        assert _same(got, ref), key
    # and against scikit-learn on the node's own predictions
    algos.predict(node, model.key, valid, "fused_pred")
    p = frame_columns(node, "fused_pred")["Y"]
    cols = frame_columns(node, valid)
    sw = cols["w"] if weights else None
    m = model.output["validation_metrics"]
    assert m["auc"] == pytest.approx(skm.roc_auc_score(cols["y"], p, sample_weight=sw), rel=1e-12)
    assert m["aucpr"] == pytest.approx(skm.average_precision_score(cols["y"], p, sample_weight=sw), rel=1e-12)
    assert m["logloss"] == pytest.approx(skm.log_loss(cols["y"], p, sample_weight=sw), rel=1e-12)
    delete_frame(node, "fused_pred")


def test_cross_validation_metrics_equal_the_scored_frame_metrics(node, frames):
    from shoal_server.algos.common.scoring import payload_of

    train, _valid = frames
    key = algos.train(node, "glm", {"training_frame": train, "y": "y", "x": ["g", "h", "x"], "family": "binomial",
                                    "lambda_value": 0.0, "nfolds": 3, "seed": 7, "model_id": "fused_cv",
                                    "keep_cross_validation_predictions": True})
    model = algos.get_model(node, key)
    cv = model.output["cross_validation_metrics"]        # kept predictions: the scored-frame path
    summary = model.output["cross_validation_metrics_summary"]   # per fold: the fused path
    assert cv["auc"] is not None and summary is not None
    # the fused path on the holdout payloads equals the frame path on the same payloads
    from shoal_server.algos.common import cv as cvmod
    from shoal_server.algos.common.scoring import binomial_metrics_of, model_metrics
    header = node.catalog.get(train)
    folds = cvmod.fold_spec(dict(model.params), header, int(model.params["seed"]))
    base = payload_of(model)
    payloads = []
    for fold in model.output["cross_validation_models"]:
        pl = dict(base)
        pl["beta"] = np.array([fold["coefficients"][n] for n in model.output["coefficient_names"]])
        payloads.append(pl)
    fused = binomial_metrics_of(node, model, train, payloads=payloads, folds=folds)
    kept = model_metrics(node, model, train, payloads=payloads, folds=folds, keep_as="fused_cv_keep")
    kept.pop("frame")
    assert _same(fused, kept)
    delete_frame(node, "fused_cv_keep")


def test_the_converged_pass_without_gram_gives_the_same_model(node, frames):
    train, _valid = frames
    base = {"training_frame": train, "y": "y", "x": ["g", "h", "x"], "family": "binomial", "lambda_value": 0.0}
    a = algos.get_model(node, algos.train(node, "glm", dict(base, model_id="gram_a")))
    b = algos.get_model(node, algos.train(node, "glm", dict(base, model_id="gram_b", compute_p_values=True)))
    assert a.arrays["beta"].tobytes() == b.arrays["beta"].tobytes()
    assert a.output["residual_deviance"] == b.output["residual_deviance"]
    assert a.output["aic"] == b.output["aic"]
    assert np.all(np.isfinite(b.arrays["std_error"][1:]))

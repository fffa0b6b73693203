"""The model framework on GLM: chunking invariance, prediction frames, save/load, the standalone
scorer, cross-validation, lambda search, constraints, validation errors, jobs."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import statsmodels.api as sm

import shoal_server.algos as algos
from shoal_server.algos.common import persist
from shoal_server.algos.common.early_stopping import stop_early
from shoal_server.errors import InvalidParameter

from algo_helpers import frame_columns, make_frame

N = 300


def _mixed(seed=1, n=N, missing=True):
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=n)
    x1 = rng.normal(2, 3, size=n)
    g = rng.integers(0, 4, size=n)
    w = rng.uniform(0.5, 2.0, size=n)
    eta = -0.2 + 0.8 * x0 - 0.3 * x1 + np.array([0, 0.5, -0.5, 1.0])[g]
    yb = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    yc = rng.poisson(np.exp(0.3 * eta)).astype(float)
    ym = np.where(eta < -0.5, 0, np.where(eta < 0.5, 1, 2))
    ym = np.where(rng.random(n) < 0.2, rng.integers(0, 3, size=n), ym)
    if missing:
        x0[::17] = np.nan
        g[::23] = -1
    return {"x0": x0, "x1": x1, "g": g, "w": w, "yb": yb, "yc": yc, "ym": ym}


ENUMS = {"g": ["a", "b", "c", "d"], "ym": ["c0", "c1", "c2"]}


@pytest.fixture(scope="module")
def frames(node):
    d = _mixed()
    make_frame(node, "mix_1", d, chunk_rows=10 ** 6, enums=ENUMS)
    make_frame(node, "mix_many", d, chunk_rows=7, enums=ENUMS)
    return d


def _train(node, **kw):
    return algos.get_model(node, algos.train(node, "glm", kw))


@pytest.mark.parametrize("family,y,extra", [
    ("binomial", "yb", {"lambda_value": 0.0}),
    ("poisson", "yc", {"alpha": 0.5, "lambda_value": 0.01}),
    ("multinomial", "ym", {"alpha": 0.5, "lambda_value": 0.01}),
])
def test_one_chunk_and_many_tiny_chunks_give_the_same_coefficients(node, frames, family, y, extra):
    kw = dict(y=y, x=["x0", "x1", "g"], family=family, weights_column="w", beta_epsilon=1e-12, **extra)
    a = _train(node, training_frame="mix_1", **kw)
    b = _train(node, training_frame="mix_many", **kw)
    assert node.catalog.get("mix_many").nchunks > 40
    np.testing.assert_allclose(np.asarray(a.arrays["beta"]), np.asarray(b.arrays["beta"]), rtol=0, atol=1e-10)


def test_weights_and_offset_equal_statsmodels(node):
    rng = np.random.default_rng(4)
    n = 250
    x = rng.normal(size=(n, 2))
    off = rng.normal(0, 0.3, size=n)
    w = rng.integers(1, 4, size=n).astype(float)
    y = rng.poisson(np.exp(0.2 + x @ [0.4, -0.3] + off)).astype(float)
    make_frame(node, "wo", {"a": x[:, 0], "b": x[:, 1], "off": off, "w": w, "y": y}, chunk_rows=40)
    m = _train(node, training_frame="wo", y="y", x=["a", "b"], family="poisson", weights_column="w",
               offset_column="off", lambda_value=0, beta_epsilon=1e-12)
    ref = sm.GLM(y, sm.add_constant(x), family=sm.families.Poisson(), offset=off, freq_weights=w).fit(tol=1e-13)
    c = m.output["coefficients"]
    np.testing.assert_allclose([c["Intercept"], c["a"], c["b"]], ref.params, atol=1e-8)


def test_skip_missing_equals_fit_on_complete_rows(node, frames):
    d = frames
    ok = ~np.isnan(d["x0"]) & (d["g"] >= 0)
    m = _train(node, training_frame="mix_many", y="yb", x=["x0", "x1", "g"], family="binomial", lambda_value=0,
               missing_values_handling="Skip", beta_epsilon=1e-12)
    g = d["g"][ok]
    X = np.column_stack([np.ones(ok.sum()), g == 1, g == 2, g == 3, d["x0"][ok], d["x1"][ok]]).astype(float)
    ref = sm.GLM(d["yb"][ok], X, family=sm.families.Binomial()).fit(tol=1e-13)
    c = m.output["coefficients"]
    np.testing.assert_allclose([c[k] for k in ["Intercept", "g.b", "g.c", "g.d", "x0", "x1"]], ref.params, atol=1e-7)
    assert m.output["nobs"] == int(ok.sum())


def test_mean_imputation_uses_column_means_and_mode(node, frames):
    d = frames
    m = _train(node, training_frame="mix_many", y="yb", x=["x0", "x1", "g"], family="binomial", lambda_value=0,
               beta_epsilon=1e-12)
    x0 = np.where(np.isnan(d["x0"]), np.nanmean(d["x0"]), d["x0"])
    counts = np.bincount(d["g"][d["g"] >= 0], minlength=4)
    g = np.where(d["g"] < 0, int(np.argmax(counts)), d["g"])
    X = np.column_stack([np.ones(N), g == 1, g == 2, g == 3, x0, d["x1"]]).astype(float)
    ref = sm.GLM(d["yb"], X, family=sm.families.Binomial()).fit(tol=1e-13)
    c = m.output["coefficients"]
    np.testing.assert_allclose([c[k] for k in ["Intercept", "g.b", "g.c", "g.d", "x0", "x1"]], ref.params, atol=1e-7)


def _predictions(node, model, frame):
    key = f"pred_{model.key}_{frame}"
    algos.predict(node, model.key, frame, key)
    return frame_columns(node, key), node.catalog.get(key)


def test_binomial_prediction_frame_has_predict_and_class_probabilities(node, frames):
    m = _train(node, training_frame="mix_many", y="yb", x=["x0", "x1", "g"], family="binomial", lambda_value=0)
    cols, header = _predictions(node, m, "mix_many")
    assert header.names == ["predict", "p0", "p1"]
    assert header.column("predict").domain == ("0", "1")
    np.testing.assert_allclose(cols["p0"] + cols["p1"], 1.0, atol=1e-15)
    thr = m.output["default_threshold"]
    np.testing.assert_array_equal(cols["predict"], (cols["p1"] >= thr).astype(np.int32))
    # the training metrics are the metrics of these predictions
    from sklearn.metrics import roc_auc_score
    assert m.output["training_metrics"]["auc"] == pytest.approx(roc_auc_score(frames["yb"], cols["p1"]), abs=1e-12)


def test_multinomial_prediction_is_the_most_likely_class(node, frames):
    m = _train(node, training_frame="mix_1", y="ym", x=["x0", "x1", "g"], family="multinomial", alpha=0.0,
               lambda_value=0.01)
    cols, header = _predictions(node, m, "mix_1")
    assert header.names == ["predict", "c0", "c1", "c2"]
    P = np.column_stack([cols["c0"], cols["c1"], cols["c2"]])
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-14)
    np.testing.assert_array_equal(cols["predict"], np.argmax(P, axis=1))
    from sklearn.metrics import log_loss
    assert m.output["training_metrics"]["logloss"] == pytest.approx(log_loss(frames["ym"], P), rel=1e-10)


@pytest.mark.parametrize("family,y,extra", [
    ("binomial", "yb", {"lambda_value": 0.001, "alpha": 0.5}),
    ("poisson", "yc", {"lambda_value": 0.0}),
    ("multinomial", "ym", {"lambda_value": 0.01, "alpha": 0.5}),
    ("gaussian", "x1", {"lambda_value": 0.0, "missing_values_handling": "Skip"}),
])
def test_save_load_round_trip_and_scorer_export_predict_like_the_server(node, frames, tmp_path, family, y, extra):
    x = [c for c in ["x0", "x1", "g"] if c != y]
    m = _train(node, training_frame="mix_many", y=y, x=x, family=family, **extra)
    before, _h = _predictions(node, m, "mix_many")
    path = str(tmp_path / "model.shoal")
    algos.save_model(m, path)
    loaded = algos.load_model(node, path, model_id=f"{m.key}_loaded")
    after, _h = _predictions(node, loaded, "mix_many")
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])
    assert algos.model_to_json(loaded)["output"]["coefficients"] == algos.model_to_json(m)["output"]["coefficients"]
    # the standalone scorer: plain Python; numpy only as an optional speed-up of predict_columns
    src = algos.export_scorer(m)
    assert "\nimport numpy" not in src and "shoal" not in src.split("\n", 3)[-1].replace("Shoal", "")
    file = tmp_path / "scorer.py"
    file.write_text(src)
    spec = importlib.util.spec_from_file_location("scorer_under_test", file)
    mod = importlib.util.module_from_spec(spec)
    import sys

    saved, sys.modules["numpy"] = sys.modules["numpy"], None    # loading must not need numpy
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules["numpy"] = saved
    d = frames
    rows = []
    for i in range(N):
        row = {"x0": None if np.isnan(d["x0"][i]) else float(d["x0"][i]), "x1": float(d["x1"][i]),
               "g": None if d["g"][i] < 0 else ENUMS["g"][d["g"][i]]}
        rows.append(row)
    rows.append({"x0": 0.5, "x1": 1.0, "g": "never-seen-level"})
    got = mod.predict_rows(rows)
    for name in before:
        if name == "predict":
            continue
        ours = np.array([np.nan if r[name] is None else r[name] for r in got[:N]])
        np.testing.assert_allclose(ours, before[name], rtol=1e-12, atol=1e-12, equal_nan=True)
    if m.category != "Regression":
        dom = m.domain
        labels = [None if r["predict"] is None else dom.index(r["predict"]) for r in got[:N]]
        server = [None if c < 0 else int(c) for c in before["predict"]]
        assert labels == server


def test_newer_model_format_is_refused_and_older_ones_are_upgraded(node, frames, tmp_path, monkeypatch):
    m = _train(node, training_frame="mix_1", y="yb", x=["x0", "x1"], family="binomial", lambda_value=0)
    data = persist.model_to_bytes(m)
    import io
    import zipfile

    def rewrite(version):
        src = zipfile.ZipFile(io.BytesIO(data))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            for info in src.infolist():
                body = src.read(info.filename)
                if info.filename == "model.json":
                    doc = json.loads(body)
                    doc["format_version"] = version
                    doc["output"].pop("aic", None)
                    body = json.dumps(doc).encode()
                zf.writestr(info.filename, body)
        return out.getvalue()

    with pytest.raises(InvalidParameter, match="newer than this Shoal"):
        persist.model_from_bytes(rewrite(persist.MODEL_FORMAT_VERSION + 1))
    # an older format goes through the upgrade chain
    monkeypatch.setitem(persist.UPGRADES, persist.MODEL_FORMAT_VERSION - 1,
                        lambda doc: dict(doc, output=dict(doc["output"], aic=-1.0)))
    up = persist.model_from_bytes(rewrite(persist.MODEL_FORMAT_VERSION - 1))
    assert up.output["aic"] == -1.0 and up.format_version == persist.MODEL_FORMAT_VERSION
    with pytest.raises(InvalidParameter):
        persist.model_from_bytes(b"not a zip")


def test_model_json_is_strict_json_with_h2o_tables(node, frames):
    m = _train(node, training_frame="mix_many", validation_frame="mix_1", y="yb", x=["x0", "x1", "g"],
               family="binomial", lambda_value=0, compute_p_values=True)
    j = algos.model_to_json(m)
    json.dumps(j, allow_nan=False)
    out = j["output"]
    assert out["coefficients_table"]["columns"] == ["names", "coefficients", "std_error", "z_value", "p_value",
                                                    "standardized_coefficients"]
    assert [r[0] for r in out["variable_importances"]["data"]][:1] and \
        out["variable_importances"]["columns"] == ["variable", "relative_importance", "scaled_importance",
                                                   "percentage"]
    assert len(out["scoring_history"]["data"]) >= 2
    assert out["validation_metrics"]["auc"] == pytest.approx(out["training_metrics"]["auc"], abs=1e-12)
    assert out["training_metrics"]["null_degrees_of_freedom"] == N - 1


def test_cross_validation_metrics_and_summary(node, frames):
    kw = dict(training_frame="mix_many", y="yb", x=["x0", "x1", "g"], family="binomial", lambda_value=0.0,
              nfolds=3, fold_assignment="Modulo", keep_cross_validation_predictions=True, seed=42)
    m = _train(node, **kw)
    out = m.output
    cvm = out["cross_validation_metrics"]
    assert cvm["nobs"] == N
    summary = out["cross_validation_metrics_summary"]
    assert summary["columns"][:3] == ["metric", "mean", "sd"] and len(summary["columns"]) == 6
    auc_row = next(r for r in summary["data"] if r[0] == "auc")
    assert auc_row[1] == pytest.approx(np.mean(auc_row[3:]), rel=1e-12)
    # holdout predictions: each row by the model that did not see it (Modulo: fold = row % 3)
    d = frames
    hold = frame_columns(node, out["cross_validation_holdout_predictions_frame_id"])
    rows = np.arange(N)
    for k in range(3):
        rest = rows % 3 != k
        x0 = np.where(np.isnan(d["x0"]), np.nan, d["x0"])
        # refit fold k independently with statsmodels on the fold's training rows (mean imputation as the
        # main model's design: means from all training rows)
        x0i = np.where(np.isnan(x0), np.nanmean(x0), x0)
        counts = np.bincount(d["g"][d["g"] >= 0], minlength=4)
        g = np.where(d["g"] < 0, int(np.argmax(counts)), d["g"])
        X = np.column_stack([np.ones(N), g == 1, g == 2, g == 3, x0i, d["x1"]]).astype(float)
        ref = sm.GLM(d["yb"][rest], X[rest], family=sm.families.Binomial()).fit(tol=1e-13)
        p1 = 1 / (1 + np.exp(-(X[~rest] @ ref.params)))
        np.testing.assert_allclose(hold["p1"][~rest], p1, atol=1e-6)
    from sklearn.metrics import roc_auc_score
    assert cvm["auc"] == pytest.approx(roc_auc_score(d["yb"], hold["p1"]), abs=1e-12)


def test_random_and_stratified_folds_are_seeded_and_balanced(node, frames):
    from shoal_server.algos.common.cv import fold_ids
    y = np.array([0.0] * 30 + [1.0] * 12)
    a = fold_ids({"kind": "Stratified", "nfolds": 3, "seed": 5}, 2, 0, 42, None, y)
    b = fold_ids({"kind": "Stratified", "nfolds": 3, "seed": 5}, 2, 0, 42, None, y)
    np.testing.assert_array_equal(a, b)
    for c in (0.0, 1.0):
        counts = np.bincount(a[y == c], minlength=3)
        assert counts.max() - counts.min() <= 1
    r1 = fold_ids({"kind": "Random", "nfolds": 4, "seed": 5}, 0, 0, 1000)
    r2 = fold_ids({"kind": "Random", "nfolds": 4, "seed": 5}, 1, 1000, 1000)
    assert not np.array_equal(r1, r2) and set(np.unique(r1)) == {0, 1, 2, 3}
    m1 = _train(node, training_frame="mix_many", y="yb", x=["x0", "x1"], family="binomial", lambda_value=0,
                nfolds=3, seed=9)
    m2 = _train(node, training_frame="mix_many", y="yb", x=["x0", "x1"], family="binomial", lambda_value=0,
                nfolds=3, seed=9)
    assert m1.output["cross_validation_metrics"]["auc"] == m2.output["cross_validation_metrics"]["auc"]


def test_lambda_search_path_starts_at_the_null_model_and_ends_at_lambda_min(node, frames):
    m = _train(node, training_frame="mix_many", y="yb", x=["x0", "x1", "g"], family="binomial", lambda_search=True,
               nlambdas=8, lambda_min_ratio=1e-3, alpha=1.0)
    path = m.output["lambda_path"]
    lambdas = path["lambdas"]
    assert len(lambdas) == 8 and all(a > b for a, b in zip(lambdas, lambdas[1:]))
    assert lambdas[-1] == pytest.approx(lambdas[0] * 1e-3, rel=1e-12)
    first = path["coefficients"][0]
    assert all(v == 0 for v in first[1:])                       # lambda_max kills every coefficient
    assert any(v != 0 for v in path["coefficients"][1][1:])     # and just below it one enters
    direct = _train(node, training_frame="mix_many", y="yb", x=["x0", "x1", "g"], family="binomial",
                    lambda_value=lambdas[-1], alpha=1.0, beta_epsilon=1e-10)
    np.testing.assert_allclose(path["coefficients"][-1], direct.arrays["beta"], atol=1e-4)
    assert m.output["lambda_value"] == lambdas[-1]


def test_lambda_search_with_validation_picks_the_best_validation_deviance(node, frames):
    m = _train(node, training_frame="mix_many", validation_frame="mix_1", y="yc", x=["x0", "x1", "g"],
               family="poisson", lambda_search=True, nlambdas=6, alpha=0.5)
    rp = m.output["regularization_path"]
    devs = [r[rp["columns"].index("deviance_valid")] for r in rp["data"]]
    assert m.output["lambda_value"] == rp["data"][int(np.argmin(devs))][0]


def test_non_negative_and_beta_constraints_bound_the_coefficients(node):
    from scipy.optimize import lsq_linear
    rng = np.random.default_rng(8)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, -0.7, 0.4] + rng.normal(size=200)
    make_frame(node, "nn", {"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y}, chunk_rows=50)
    m = _train(node, training_frame="nn", y="y", family="gaussian", lambda_value=0, non_negative=True)
    A = np.column_stack([np.ones(200), X])
    ref = lsq_linear(A, y, bounds=([-np.inf, 0, 0, 0], [np.inf] * 4), tol=1e-14).x
    c = m.output["coefficients"]
    np.testing.assert_allclose([c["Intercept"], c["a"], c["b"], c["c"]], ref, atol=1e-7)
    m2 = _train(node, training_frame="nn", y="y", family="gaussian", lambda_value=0,
                beta_constraints={"a": {"upper_bound": 0.5}, "c": {"lower_bound": 0.6}})
    ref2 = lsq_linear(A, y, bounds=([-np.inf, -np.inf, -np.inf, 0.6], [np.inf, 0.5, np.inf, np.inf]), tol=1e-14).x
    c2 = m2.output["coefficients"]
    np.testing.assert_allclose([c2["Intercept"], c2["a"], c2["b"], c2["c"]], ref2, atol=1e-7)


def test_collinear_columns_are_refused_or_removed(node):
    rng = np.random.default_rng(2)
    a = rng.normal(size=100)
    b = rng.normal(size=100)
    y = a + b + rng.normal(size=100)
    make_frame(node, "col", {"a": a, "b": b, "ab": a + 2 * b, "y": y}, chunk_rows=30)
    with pytest.raises(InvalidParameter, match="collinear.*ab"):
        _train(node, training_frame="col", y="y", family="gaussian", lambda_value=0)
    m = _train(node, training_frame="col", y="y", family="gaussian", lambda_value=0, remove_collinear_columns=True,
               compute_p_values=True)
    assert m.output["dropped_collinear_columns"] == ["ab"]
    ref = sm.OLS(y, sm.add_constant(np.column_stack([a, b]))).fit()
    c = m.output["coefficients"]
    np.testing.assert_allclose([c["Intercept"], c["a"], c["b"], c["ab"]], [*ref.params, 0.0], atol=1e-9)


@pytest.mark.parametrize("family,y", [("binomial", "yb"), ("multinomial", "ym")])
def test_lbfgs_ridge_equals_irlsm(node, frames, family, y):
    kw = dict(training_frame="mix_many", y=y, x=["x0", "x1", "g"], family=family, alpha=0.0, lambda_value=0.01)
    a = _train(node, solver="IRLSM", beta_epsilon=1e-12, **kw)
    b = _train(node, solver="L_BFGS", gradient_epsilon=1e-10, **kw)
    ba, bb = np.asarray(a.arrays["beta"]), np.asarray(b.arrays["beta"])
    if family == "multinomial":
        # unpenalized intercepts of a softmax are identified only up to a common shift
        ba[:, 0] -= ba[:, 0].mean()
        bb[:, 0] -= bb[:, 0].mean()
    np.testing.assert_allclose(bb, ba, atol=1e-6)


def test_every_parameter_problem_is_reported_at_once(node, frames):
    with pytest.raises(InvalidParameter) as e:
        algos.train(node, "glm", {"training_frame": "mix_1", "y": "yb", "family": "binomal", "alpha": 2,
                                  "lambda": 0.1, "nfolds": 1})
    problems = e.value.details["problems"]
    names = sorted(p["parameter"] for p in problems)
    assert names == ["alpha", "family", "lambda"]
    assert any("Did you mean `lambda_value`" in p["message"] for p in problems)
    assert any("binomal" in p["message"] and "binomial" in p["message"] for p in problems)
    with pytest.raises(InvalidParameter) as e:
        algos.train(node, "glm", {"training_frame": "mix_1", "y": "g", "family": "gaussian", "x": ["nope"]})
    assert sorted(p["parameter"] for p in e.value.details["problems"]) == ["family", "x"]


def test_training_runs_as_a_job_and_a_cancelled_job_leaves_no_model(node, frames):
    job = node.jobs.start("train", "glm", lambda j: algos.train(
        node, "glm", {"training_frame": "mix_many", "y": "yb", "model_id": "glm_job", "lambda_value": 0}, j))
    job.wait(60)
    assert job.status == "DONE" and job.result == "glm_job" and "glm_job" in algos.list_models(node)
    job = node.jobs.create("train", "glm cancelled")
    job.cancel()
    node.jobs.run(job, lambda j: algos.train(node, "glm", {"training_frame": "mix_many", "y": "yb",
                                                            "model_id": "glm_cancelled"}, j))
    job.wait(60)
    assert job.status == "CANCELLED" and "glm_cancelled" not in algos.list_models(node)


def test_early_stopping_follows_h2o_moving_average_rule():
    assert not stop_early([5, 4, 3], 2, 0.0)                       # fewer than 2k events
    assert not stop_early([5, 4, 3, 2], 2, 0.0)                    # still improving
    assert stop_early([5, 4, 4, 4, 4, 4], 2, 1e-3)                 # flat
    assert stop_early([0.6, 0.7, 0.7, 0.7, 0.7], 2, 1e-3, more_is_better=True)
    assert not stop_early([0.6, 0.7, 0.8, 0.9], 2, 1e-3, more_is_better=True)


def test_task_parameters_and_partials_survive_the_cluster_wire(node, frames, monkeypatch):
    """What a peer node would see: every map's params and partials through the cluster envelope
    (msgpack + read-only buffers); the model must be the same bits as without the wire."""
    from shoal_server.cluster import protocol

    def wire(obj):
        env = protocol.Envelope(id=1, type="rep", sender="a:1", payload=obj)
        return protocol.decode(protocol.encode(env)).payload

    kw = dict(training_frame="mix_1", y="ym", x=["x0", "x1", "g"], family="multinomial", alpha=0.5,
              lambda_value=0.05, nfolds=2, seed=3)
    plain = _train(node, **kw)
    original = node.runtime.execute_map

    def through_wire(task_name, frame_key, columns, params, chunk_indices, ctx=None):
        out = original(task_name, frame_key, list(wire(list(columns))), wire(params), chunk_indices, ctx=ctx)
        return [(i, wire(p)) for i, p in out]

    monkeypatch.setattr(node.runtime, "execute_map", through_wire)
    wired = _train(node, **kw)
    np.testing.assert_array_equal(plain.arrays["beta"], wired.arrays["beta"])
    assert plain.output["cross_validation_metrics"]["logloss"] == wired.output["cross_validation_metrics"]["logloss"]


def test_interactions_equal_statsmodels_and_score_in_the_exported_scorer(node, frames, tmp_path):
    d = frames
    m = _train(node, training_frame="mix_many", y="yc", x=["x0", "x1", "g"], family="poisson", lambda_value=0,
               interactions=["x0", "x1", "g"], beta_epsilon=1e-12)
    names = m.output["coefficient_names"]
    assert set(names[6:]) == {"x0:x1", "g.b:x0", "g.c:x0", "g.d:x0", "g.b:x1", "g.c:x1", "g.d:x1"}
    # the same design built by hand (mean imputation of x0, mode of g; interactions of the raw values,
    # an interaction with a missing input imputed by the interaction's mean)
    x0 = d["x0"]
    counts = np.bincount(d["g"][d["g"] >= 0], minlength=4)
    g = np.where(d["g"] < 0, int(np.argmax(counts)), d["g"])
    x0i = np.where(np.isnan(x0), np.nanmean(x0), x0)
    cols = {"Intercept": np.ones(N), "g.b": g == 1, "g.c": g == 2, "g.d": g == 3, "x0": x0i, "x1": d["x1"]}

    def imputed(v):
        return np.where(np.isnan(v), np.nanmean(v), v)
    cols["x0:x1"] = imputed(x0 * d["x1"])
    graw = np.where(d["g"] < 0, np.nan, d["g"]).astype(float)
    for k, lv in ((1, "b"), (2, "c"), (3, "d")):
        for xn, xv in (("x0", x0), ("x1", d["x1"])):
            v = np.where(np.isnan(graw) | np.isnan(xv), np.nan, (graw == k) * xv)
            cols[f"g.{lv}:{xn}"] = imputed(v)
    X = np.column_stack([np.asarray(cols[n], float) for n in names])
    ref = sm.GLM(d["yc"], X, family=sm.families.Poisson()).fit(tol=1e-13)
    np.testing.assert_allclose([m.output["coefficients"][n] for n in names], ref.params, atol=1e-7)
    before, _h = _predictions(node, m, "mix_many")
    file = tmp_path / "inter_scorer.py"
    file.write_text(algos.export_scorer(m))
    spec = importlib.util.spec_from_file_location("inter_scorer", file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = [{"x0": None if np.isnan(d["x0"][i]) else float(d["x0"][i]), "x1": float(d["x1"][i]),
             "g": None if d["g"][i] < 0 else ENUMS["g"][d["g"][i]]} for i in range(N)]
    got = np.array([r["predict"] for r in mod.predict_rows(rows)])
    np.testing.assert_allclose(got, before["predict"], rtol=1e-12, atol=0)


def test_scoring_history_is_published_while_training_and_dropped_after(node, frames, monkeypatch):
    from shoal_server.algos.common.model import models_of
    reg = models_of(node)
    seen = []
    original = reg.building

    def spy(key, snapshot=None):
        if snapshot is not None:
            seen.append((key, len(snapshot["scoring_history"]["data"]), key in reg))
        return original(key, snapshot)

    monkeypatch.setattr(reg, "building", spy)
    key = algos.train(node, "glm", {"training_frame": "mix_many", "y": "yb", "model_id": "glm_live",
                                    "lambda_search": True, "nlambdas": 5})
    assert seen and all(k == "glm_live" and not registered for k, _n, registered in seen)
    assert [n for _k, n, _r in seen] == sorted(n for _k, n, _r in seen)     # the history grows
    assert original(key) is None and key in reg                            # snapshot gone, model there


def test_predict_on_a_frame_without_the_response_and_with_unseen_levels(node, frames):
    m = _train(node, training_frame="mix_1", y="yb", x=["x0", "x1", "g"], family="binomial", lambda_value=0)
    make_frame(node, "new_rows", {"x0": np.array([0.1, np.nan]), "x1": np.array([1.0, 2.0]),
                                  "g": np.array([0, 1])}, enums={"g": ["b", "zzz"]})
    cols, header = _predictions(node, m, "new_rows")
    c = m.output["coefficients"]
    x0_mean = np.nanmean(frames["x0"])
    counts = np.bincount(frames["g"][frames["g"] >= 0], minlength=4)
    mode = "abcd"[int(np.argmax(counts))]
    eta0 = c["Intercept"] + c["g.b"] + c["x0"] * 0.1 + c["x1"] * 1.0
    eta1 = c["Intercept"] + c.get(f"g.{mode}", 0.0) + c["x0"] * x0_mean + c["x1"] * 2.0   # unseen level -> mode
    np.testing.assert_allclose(cols["p1"], 1 / (1 + np.exp(-np.array([eta0, eta1]))), rtol=1e-12)


def test_model_performance_on_another_frame_equals_sklearn(node, frames):
    from sklearn.metrics import log_loss, roc_auc_score
    m = _train(node, training_frame="mix_1", y="yb", x=["x0", "x1"], family="binomial", lambda_value=0)
    perf = algos.model_performance(node, m.key, "mix_many")
    cols, _h = _predictions(node, m, "mix_many")
    assert perf["auc"] == pytest.approx(roc_auc_score(frames["yb"], cols["p1"]), abs=1e-12)
    assert perf["logloss"] == pytest.approx(log_loss(frames["yb"], cols["p1"]), rel=1e-12)

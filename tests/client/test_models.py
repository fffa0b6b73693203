"""Models through the Python client against a real node: GLM (binomial) and GBM on a small uploaded
frame, predictions checked against the server's own scorer and against scikit-learn / hand
computations, metrics, tables, save/load, the standalone scorer in a plain ``python`` subprocess,
and the error classes."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, mean_squared_error, roc_auc_score

import shoal
from nodeproc import start_with_export


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """The module's node, with an export root (save_model writes only there)."""
    n = start_with_export(tmp_path_factory.mktemp("mnode"))
    try:
        yield n
    finally:
        n.stop()


pytestmark = pytest.mark.usefixtures("connected", "reconnect")


def _data(n: int = 400, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                       "c": pd.Categorical(rng.choice(list("xyz"), n), categories=list("xyz"))})
    df.loc[[3, 17], "b"] = np.nan
    eta = 0.8 * df["a"] - 0.5 * df["b"].fillna(0) + (df["c"] == "z") * 0.7
    df["y"] = pd.Categorical(np.where(eta + rng.logistic(size=n) > 0, "yes", "no"), categories=["no", "yes"])
    df["r"] = 2.0 * df["a"] + rng.normal(scale=0.3, size=n)
    return df


@pytest.fixture(scope="module")
def frames(connected):
    df = _data()
    return df, shoal.Frame(df, destination_frame="m_train"), shoal.Frame(_data(200, 7), destination_frame="m_valid")


@pytest.fixture(scope="module")
def glm(frames):
    df, train, valid = frames
    m = shoal.GLM(family="binomial", lambda_value=0.0, compute_p_values=False)
    return m.train(x=["a", "b", "c"], y="y", training_frame=train, validation_frame=valid, progress=False)


@pytest.fixture(scope="module")
def gbm(frames):
    df, train, valid = frames
    return shoal.GBM(ntrees=8, max_depth=3, learn_rate=0.2, seed=3).train(
        x=["a", "b", "c"], y="y", training_frame=train, validation_frame=valid, progress=False)


# ---------------------------------------------------------------------------------------------- GLM
def test_glm_trains_and_reports(glm):
    assert isinstance(glm, shoal.GLM)
    assert glm.model_id.startswith("glm_model_")
    assert glm.status == "DONE"
    coef = glm.coef()
    assert set(coef) == {"Intercept", "c.y", "c.z", "a", "b"}
    # the signs of the simulated effects
    assert coef["a"] > 0.3 and coef["b"] < -0.2 and coef["c.z"] > 0.2
    assert set(glm.coef_norm()) == set(coef)
    vi = glm.varimp()
    assert list(vi.columns[:2]) == ["variable", "relative_importance"]
    assert vi["variable"].iloc[0] == "a"
    assert isinstance(glm.scoring_history(), pd.DataFrame) and len(glm.scoring_history()) >= 1
    cm = glm.confusion_matrix()
    assert isinstance(cm, pd.DataFrame)
    both = glm.auc(train=True, valid=True)
    assert set(both) == {"train", "valid"} and 0.6 < both["valid"] <= 1.0
    assert glm.auc() == both["train"]
    assert glm.rmse() == pytest.approx(math.sqrt(glm.mse()), rel=1e-12)
    assert glm.params == {"family": "binomial", "lambda_value": 0.0, "compute_p_values": False}
    assert glm.actual_params["alpha"] == 0.5  # server default filled in
    text = repr(glm)
    assert glm.model_id in text and "Coefficients" in text


def test_glm_unregularized_equals_statsmodels(glm, frames):
    sm = pytest.importorskip("statsmodels.api")
    df = frames[0]
    X = pd.DataFrame({"c.y": (df["c"] == "y").astype(float), "c.z": (df["c"] == "z").astype(float),
                      "a": df["a"], "b": df["b"].fillna(df["b"].mean())})
    fit = sm.GLM((df["y"] == "yes").astype(float), sm.add_constant(X), family=sm.families.Binomial()).fit()
    coef = glm.coef()
    for name, sm_name in (("Intercept", "const"), ("a", "a"), ("b", "b"), ("c.y", "c.y"), ("c.z", "c.z")):
        assert coef[name] == pytest.approx(fit.params[sm_name], abs=1e-5)


def test_glm_predictions_metrics_and_scorer(glm, frames):
    df, train, valid = frames
    pred = glm.predict(valid, progress=False).as_data_frame()
    assert list(pred.columns) == ["predict", "no", "yes"]
    np.testing.assert_allclose(pred["no"] + pred["yes"], 1.0, atol=1e-12)
    vdf = _data(200, 7)
    truth = (vdf["y"] == "yes").astype(int)
    perf = glm.model_performance(valid)
    assert isinstance(perf, shoal.ModelMetrics)
    # server metrics on the predictions equal scikit-learn's
    assert perf.auc() == pytest.approx(roc_auc_score(truth, pred["yes"]), abs=1e-12)
    assert perf.logloss() == pytest.approx(log_loss(truth, pred["yes"]), abs=1e-12)
    assert perf.auc() == pytest.approx(glm.auc(valid=True), abs=1e-12)


def test_html_repr_is_escaped(glm):
    page = glm._repr_html_()
    assert glm.model_id in page and "<table" in page
    doc = json.loads(json.dumps(glm._model_json()))  # a deep copy; a variable named like markup
    doc["output"]["variable_importances"]["data"][0][0] = "<script>alert(1)</script>"
    glm._json = doc
    try:
        page = glm._repr_html_()
    finally:
        glm._json = None
    assert "<script>" not in page and "&lt;script&gt;" in page


# ---------------------------------------------------------------------------------------------- GBM
def test_gbm_predictions_and_history(gbm, frames):
    df, train, valid = frames
    assert isinstance(gbm, shoal.GBM)
    hist = gbm.scoring_history()
    assert list(hist["number_of_trees"])[-1] == 8
    assert gbm.varimp()["variable"].iloc[0] in ("a", "b", "c")
    pred = gbm.predict(train, progress=False).as_data_frame()
    truth = (df["y"] == "yes").astype(int)
    assert gbm.auc() == pytest.approx(roc_auc_score(truth, pred["yes"]), abs=1e-12)
    assert gbm.logloss() == pytest.approx(log_loss(truth, pred["yes"]), abs=1e-12)
    assert gbm.auc() > 0.75
    with pytest.raises(ValueError):
        gbm.coef()


def test_gbm_regression_rmse_and_r2(frames):
    df, train, _ = frames
    m = shoal.GBM(ntrees=5, max_depth=2, seed=1).train(y="r", x=["a"], training_frame=train, progress=False)
    pred = m.predict(train, progress=False).as_data_frame()["predict"]
    mse = mean_squared_error(df["r"], pred)
    assert m.mse() == pytest.approx(mse, rel=1e-10)
    ss_tot = float(((df["r"] - df["r"].mean()) ** 2).sum())
    assert m.r2() == pytest.approx(1 - mse * len(df) / ss_tot, rel=1e-9)


# ---------------------------------------------------------------------------------------------- persistence
def test_save_load_round_trip(glm, gbm, frames, node):
    df, train, valid = frames
    for m in (glm, gbm):
        path = m.save(f"{m.model_id}.shoal")
        assert path.startswith(str(node.export_root))
        again = shoal.load_model(path, model_id=m.model_id + "_copy")
        assert type(again) is type(m) and again.model_id == m.model_id + "_copy"
        a = m.predict(valid, progress=False).as_data_frame()
        b = again.predict(valid, progress=False).as_data_frame()
        pd.testing.assert_frame_equal(a, b)
        with pytest.raises(shoal.errors.Conflict):
            m.save(f"{m.model_id}.shoal")
        assert m.save(f"{m.model_id}.shoal", force=True) == path
    with pytest.raises(shoal.errors.PathNotAllowed):
        glm.save("/etc/passwd_model.shoal")
    with pytest.raises(shoal.errors.PathNotAllowed):
        shoal.load_model("/etc/passwd")


def test_scorer_runs_in_a_plain_python(glm, gbm, frames, tmp_path):
    vdf = _data(200, 7)
    rows = [{c: (None if (isinstance(v, float) and math.isnan(v)) else v) for c, v in zip(["a", "b", "c"], r)}
            for r in vdf[["a", "b", "c"]].astype(object).itertuples(index=False)]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    for m in (glm, gbm):
        script = m.download_scorer(tmp_path / f"score_{m.algo}.py")
        driver = ("import json, sys\nsys.path.insert(0, sys.argv[1])\n"
                  f"import score_{m.algo} as s\n"
                  "rows = json.load(open(sys.argv[2]))\n"
                  "print(json.dumps([s.predict(r)['yes'] for r in rows]))\n")
        out = subprocess.run([sys.executable, "-I", "-S", "-c", driver, str(tmp_path), str(tmp_path / "rows.json")],
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert script.endswith(f"score_{m.algo}.py")
        server = m.predict(shoal.get_frame("m_valid"), progress=False).as_data_frame()["yes"]
        np.testing.assert_allclose(json.loads(out.stdout), server, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------- management
def test_get_list_delete(glm, frames):
    got = shoal.get_model(glm.model_id)
    assert isinstance(got, shoal.GLM) and got.coef() == glm.coef()
    listed = shoal.list_models()
    assert glm.model_id in set(listed["model_id"])
    row = listed.set_index("model_id").loc[glm.model_id]
    assert row["algo"] == "glm" and row["response"] == "y" and row["training_frame"] == "m_train"
    tmp = shoal.GLM(family="gaussian").train(y="r", x=["a"], training_frame=frames[1], progress=False)
    tmp.delete()
    assert tmp.model_id not in set(shoal.list_models()["model_id"])
    with pytest.raises(shoal.errors.ModelNotFound):
        shoal.get_model(tmp.model_id)
    with pytest.raises(shoal.errors.ModelNotFound):
        tmp.predict(frames[1], progress=False)


def test_get_model_while_training_shows_history(frames):
    from shoal._generated import operations as ops

    df, train, _ = frames
    res = ops.train_gbm(shoal.connection(), "m_train", "y", ntrees=400, max_depth=5, score_tree_interval=1,
                        seed=2)
    key = res["job"]["dest"]
    seen_running = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            doc = ops.get_model(shoal.connection(), key)["model"]
        except shoal.errors.ModelNotFound:
            time.sleep(0.02)
            continue
        if doc["status"] == "RUNNING" and "scoring_history" in doc["output"]:
            seen_running = True
            assert shoal.get_model(key).scoring_history() is not None
            break
        if doc["status"] == "DONE":
            break
        time.sleep(0.02)
    shoal.cancel(res["job"]["key"])
    assert seen_running
    deadline = time.monotonic() + 20
    while ops.get_job(shoal.connection(), res["job"]["key"])["job"]["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with pytest.raises(shoal.errors.ModelNotFound):
        shoal.get_model(key)


def test_parameter_errors():
    with pytest.raises(TypeError, match="ntree"):
        shoal.GBM(ntree=5)
    with pytest.raises(shoal.errors.InvalidParameter) as ei:
        shoal.GLM(family="nope", alpha=2.0).train(y="y", training_frame="m_train", progress=False)
    params = {p["parameter"] for p in ei.value.details["problems"]}
    assert params == {"family", "alpha"}  # all problems at once
    with pytest.raises(shoal.errors.FrameNotFound):
        shoal.DRF(ntrees=2).train(y="y", training_frame="no_such_frame", progress=False)
    with pytest.raises(ValueError):
        shoal.GLM().auc()


def test_drf_trains(frames):
    df, train, _ = frames
    m = shoal.DRF(ntrees=5, max_depth=4, seed=1).train(y="y", training_frame=train, x=["a", "b", "c"],
                                                       progress=False)
    assert isinstance(m, shoal.DRF) and 0.5 < m.auc() <= 1.0
    assert len(m.predict(train, progress=False).as_data_frame()) == len(df)

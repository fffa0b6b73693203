"""Parity: every API operation through BOTH clients (Python directly, R through rpy2) against the
same node, results compared exactly.

Values are compared in one canonical text form (``helpers.R`` / ``canon.py``): doubles as
``%.17g``, times as epoch milliseconds, factors as labels plus levels, NA as null. The coverage
test at the bottom reads the committed API description and fails when an operation has no parity
test here (``PARITY_TESTS`` maps each operation to its test).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shoal
from shoal._generated import operations as ops

from .canon import canon_df, from_r, num_text

pytestmark = pytest.mark.r

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTION = ROOT / "server" / "shoal_server" / "api" / "description.json"

#: operation → the test below that runs it through both clients
PARITY_TESTS = {
    "health": "test_health_and_metadata",
    "metadata": "test_health_and_metadata",
    "openapi": "test_health_and_metadata",
    "cluster_status": "test_cluster_status",
    "list_files": "test_list_files",
    "parse_setup": "test_parse_setup",
    "import_file": "test_import_file",
    "upload_file": "test_upload_file",
    "upload_frame": "test_upload_frame_both_ways",
    "list_frames": "test_ls_and_remove",
    "delete_frame": "test_ls_and_remove",
    "get_frame": "test_get_frame_and_summary",
    "frame_rows": "test_head_and_tail",
    "download_frame": "test_download_frame",
    "list_jobs": "test_jobs",
    "get_job": "test_jobs",
    "cancel_job": "test_jobs",
    "shutdown": "test_shutdown",
    "evaluate": "test_evaluate",
    "train_glm": "test_train_models",
    "train_gbm": "test_train_models",
    "train_drf": "test_train_models",
    "get_model": "test_train_models",
    "list_models": "test_list_and_delete_models",
    "delete_model": "test_list_and_delete_models",
    "predict": "test_predict_and_performance",
    "model_performance": "test_predict_and_performance",
    "model_contributions": "test_tree_contributions_and_leaf_assignment",
    "model_leaf_node_assignment": "test_tree_contributions_and_leaf_assignment",
    "save_model": "test_save_load_and_scorer",
    "load_model": "test_save_load_and_scorer",
    "download_scorer": "test_save_load_and_scorer",
}

CSV = (
    "id,carrier,dist,late,when,note\n"
    "1,AA,100.5,true,2013-01-01 05:15:00,first\n"
    "2,UA,,false,2013-01-01 06:00:00,\n"
    "3,AA,42,,2013-01-02 00:00:00,third one\n"
    "4,DL,7.25,true,,fourth\n"
    "5,B6,-3,false,2013-02-28 23:59:59,\"quoted, comma\"\n"
)


def mixed_pandas() -> pd.DataFrame:
    return pd.DataFrame({
        "i": pd.array([1, None, -3, 2147483647, 0], dtype="Int64"),
        "r": [1.5, np.nan, -2.25, 1e300, 0.0],
        "f": pd.Categorical(["b", "a", None, "c", "a"], categories=["a", "b", "c"]),
        "s": ["x", None, "", "h\u00e9llo \u2603", "long string with, comma"],
        "b": pd.array([True, False, None, True, False], dtype="boolean"),
        "t": pd.to_datetime(["2020-01-01 00:00:00", None, "1969-12-31 23:59:59",
                             "2038-01-19 03:14:08", "2000-02-29 12:00:00.5"], format="ISO8601"),
    })


@pytest.fixture(scope="module")
def both(r, node):
    """Both clients connected to one node."""
    conn = shoal.init(url=node.url, verbose=False)
    r(f'shoal_init(url = "{node.url}", verbose = FALSE)')
    return conn


def rjson(r, expr: str):
    return json.loads(r(f"canon_json({expr})")[0])


def rdf(r, expr: str):
    return from_r(r(f"canon_df({expr})")[0])


def r_key(r, var: str) -> str:
    return r(f"key_of({var})")[0]


def write_csv(node, name: str) -> Path:
    p = node.data_root / name
    p.write_text(CSV, encoding="utf-8")
    return p


# ---------------------------------------------------------------------------------------- node
def test_health_and_metadata(r, both):
    assert rjson(r, "shoal_health()") == num_text(ops.health(both))
    md_r = rjson(r, "shoal_metadata()")
    md_py = ops.metadata(both)
    assert [o["name"] for o in md_r["operations"]] == [o["name"] for o in md_py["operations"]]
    assert [e["code"] for e in md_r["errors"]] == [e["code"] for e in md_py["errors"]]
    assert sorted(rjson(r, "shoal_openapi()")["paths"]) == sorted(ops.openapi(both)["paths"])


def test_cluster_status(r, both):
    st_r = rjson(r, "shoal_cluster_status()")
    st_py = num_text(shoal.cluster_status())
    for k in ("name", "version", "size", "healthy"):
        assert st_r["cluster"][k] == st_py["cluster"][k]
    assert [m["name"] for m in st_r["cluster"]["members"]] == [m["name"] for m in st_py["cluster"]["members"]]
    assert st_r["node"]["pid"] == st_py["node"]["pid"]
    assert st_r["node"]["cores"] == st_py["node"]["cores"]


def test_list_files(r, both, node):
    write_csv(node, "listed.csv")
    roots_r = rjson(r, "shoal_list_files()")
    roots_py = num_text(ops.list_files(both))
    assert roots_r == roots_py
    d = str(node.data_root)
    in_r = rjson(r, f'shoal_list_files(path = "{d}")')
    in_py = num_text(ops.list_files(both, path=d))
    assert in_r == in_py
    assert "listed.csv" in {e["name"] for e in in_py["entries"]}


def test_parse_setup(r, both, node):
    p = write_csv(node, "setup.csv")
    assert rjson(r, f'shoal_parse_setup("{p}")') == num_text({"setup": shoal.parse_setup(str(p))})
    r_over = rjson(r, f'shoal_parse_setup("{p}", col_types = c(carrier = "string"), header = TRUE)')
    py_over = shoal.parse_setup(str(p), col_types={"carrier": "string"}, header=True)
    assert r_over == num_text({"setup": py_over})


# ---------------------------------------------------------------------------------------- frames
def _same_frame(r, r_var: str, py_frame) -> None:
    """dim, names, types and all values equal between an R handle and a Python frame."""
    assert list(r(f"dim({r_var})")) == list(py_frame.shape)
    assert list(r(f"names({r_var})")) == py_frame.names
    r_types = list(r(f"shoal:::.col_types(shoal:::.frame_info({r_var}))"))
    assert r_types == list(py_frame.types.values())
    assert rdf(r, f"as.data.frame({r_var})") == canon_df(py_frame.as_data_frame())


def test_import_file(r, both, node):
    p = write_csv(node, "imported.csv")
    r(f'fr_imp <- shoal_import_file("{p}", destination_frame = "imp_r")')
    py = shoal.import_file(str(p), destination_frame="imp_py", progress=False)
    _same_frame(r, "fr_imp", py)
    # the same file, parsed once and seen from the other client
    assert rdf(r, 'as.data.frame(shoal_get_frame("imp_py"))') == canon_df(py.as_data_frame())
    # overrides with the same names in both clients
    r(f'fr_imp2 <- shoal_import_file("{p}", col_types = c(carrier = "string"), skipped_columns = 5L, '
      f'na_strings = c("", "B6"))')
    py2 = shoal.import_file(str(p), col_types={"carrier": "string"}, skipped_columns=[5],
                            na_strings=["", "B6"], progress=False)
    _same_frame(r, "fr_imp2", py2)
    # errors: the same code
    assert r('error_code(shoal_import_file("/etc/passwd"))')[0] == _py_code(
        lambda: shoal.import_file("/etc/passwd", progress=False))


def test_upload_file(r, both, tmp_path):
    p = tmp_path / "up.csv"
    p.write_text(CSV, encoding="utf-8")
    r(f'fr_up <- shoal_upload_file("{p}")')
    py = shoal.upload_file(str(p), progress=False)
    _same_frame(r, "fr_up", py)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n1,\"unterminated\n")
    assert r(f'error_code(shoal_upload_file("{bad}"))')[0] == _py_code(
        lambda: shoal.upload_file(str(bad), progress=False))


def test_upload_frame_both_ways(r, both):
    """A frame uploaded by R reads back identically in Python, and the other way round."""
    r("df_mixed <- data.frame(i = c(1L, NA, -3L, 2147483647L, 0L), r = c(1.5, NA, -2.25, 1e300, 0), "
      "f = factor(c('b', 'a', NA, 'c', 'a'), levels = c('a', 'b', 'c')), "
      "s = c('x', NA, '', 'h\\u00e9llo \\u2603', 'long string with, comma'), "
      "b = c(TRUE, FALSE, NA, TRUE, FALSE), "
      "t = as.POSIXct(c('2020-01-01 00:00:00', NA, '1969-12-31 23:59:59', '2038-01-19 03:14:08', "
      "'2000-02-29 12:00:00.5'), tz = 'UTC'), stringsAsFactors = FALSE)")
    r('fr_from_r <- as_shoal(df_mixed, destination_frame = "from_r")')
    py_from_r = shoal.get_frame("from_r")
    py_up = shoal.Frame(mixed_pandas(), destination_frame="from_py")
    r('fr_from_py <- shoal_get_frame("from_py")')
    # both uploads hold the same typed values
    assert list(r('shoal:::.col_types(shoal:::.frame_info(fr_from_r))')) == list(py_up.types.values())
    assert rdf(r, "as.data.frame(fr_from_r)") == rdf(r, "as.data.frame(fr_from_py)")
    assert canon_df(py_from_r.as_data_frame()) == canon_df(py_up.as_data_frame())
    # and R's download equals Python's download of the same frame
    _same_frame(r, "fr_from_r", py_from_r)
    # R's original data.frame equals what Python downloads of R's upload
    assert rdf(r, "df_mixed") == canon_df(py_from_r.as_data_frame())
    # mtcars
    r('fr_mt <- as_shoal(mtcars, destination_frame = "mtcars_r")')
    mt = pd.DataFrame({k: list(v) for k, v in zip(r("names(mtcars)"), r("as.list(mtcars)"))})
    _same_frame(r, "fr_mt", shoal.Frame(mt, destination_frame="mtcars_py"))


def test_ls_and_remove(r, both):
    r('fr_a <- as_shoal(data.frame(a = 1:3), destination_frame = "ls_a")')
    shoal.Frame(pd.DataFrame({"a": [1, 2, 3]}), destination_frame="ls_b")
    keys_r = sorted(r("shoal_ls()$key"))
    keys_py = sorted(shoal.ls()["key"])
    assert keys_r == keys_py
    assert {"ls_a", "ls_b"} <= set(keys_py)
    # R's ls table equals Python's (same columns, same numbers)
    tab_r = rdf(r, "shoal_ls()[order(shoal_ls()$key), c('key', 'nrow', 'ncol', 'nchunks', 'bytes', 'created')]")
    tab_py = shoal.ls().sort_values("key").reset_index(drop=True)
    assert tab_r == canon_df(tab_py[["key", "nrow", "ncol", "nchunks", "bytes", "created"]])
    # remove through each client, seen by the other
    r('shoal_remove("ls_b")')
    shoal.remove("ls_a")
    assert not {"ls_a", "ls_b"} & set(shoal.ls()["key"])
    assert not {"ls_a", "ls_b"} & set(r("shoal_ls()$key"))
    assert r('error_code(shoal_remove("ls_a"))')[0] == _py_code(lambda: shoal.remove("ls_b")) == "frame_not_found"


def test_get_frame_and_summary(r, both):
    rng = np.random.default_rng(3)
    x = rng.normal(size=200)
    x[[5, 9]] = np.nan
    x[[1, 2]] = 0.0
    df = pd.DataFrame({"x": x, "y": np.arange(200), "f": pd.Categorical(rng.choice(list("uvw"), 200))})
    py = shoal.Frame(df, destination_frame="summ")
    r('fr_s <- shoal_get_frame("summ")')
    # the whole frame description (rollups included) is the same document in both clients
    info_r = rjson(r, 'shoal:::.frame_info(fr_s, rollups = TRUE)')
    info_py = py.summary()
    assert info_r == num_text(info_py)
    # summary() numbers against Python's summary_table()
    s_r = rjson(r, "summary(fr_s)")
    tab = py.summary_table()
    for row in s_r:
        py_row = tab.loc[row["column"]]
        assert row["type"] == py_row["type"]
        for f_r, f_py in (("min", "min"), ("max", "max"), ("mean", "mean"), ("sd", "sd"),
                          ("missing", "missing"), ("zeros", "zeros"), ("cardinality", "cardinality")):
            a, b = row.get(f_r), py_row[f_py]
            if b is None or (isinstance(b, float) and np.isnan(b)):
                assert a is None or a == "NA", (row["column"], f_r, a, b)
            else:
                assert float(a) == float(b), (row["column"], f_r, a, b)
    assert r('error_code(shoal_get_frame("nope_zz"))')[0] == _py_code(lambda: shoal.get_frame("nope_zz"))


def test_head_and_tail(r, both):
    py = shoal.Frame(mixed_pandas(), destination_frame="rows")
    r('fr_rows <- shoal_get_frame("rows")')
    assert rdf(r, "head(fr_rows, 3)") == canon_df(py.head(3))
    assert rdf(r, "tail(fr_rows, 2)") == canon_df(py.tail(2))
    assert rdf(r, "head(fr_rows, 10)") == canon_df(py.head(10))
    # the generated row wrapper too
    assert rdf(r, "shoal_frame_rows(fr_rows, offset = 1, limit = 2)") == canon_df(py._rows(1, 2))
    assert r("error_code(shoal_frame_rows(fr_rows, limit = -1))")[0] == _py_code(
        lambda: ops.frame_rows(both, "rows", limit=-1)) == "invalid_parameter"


def test_download_frame(r, both):
    py = shoal.Frame(mixed_pandas(), destination_frame="dl")
    r('fr_dl <- shoal_get_frame("dl")')
    csv_r = r('shoal_download_frame(fr_dl, format = "csv")')[0]
    csv_py = ops.download_frame(both, "dl", format="csv")
    csv_py = csv_py.decode("utf-8") if isinstance(csv_py, (bytes, bytearray)) else csv_py
    assert csv_r == csv_py
    assert rdf(r, 'shoal_download_frame(fr_dl, format = "columnar")') == canon_df(py.as_data_frame())


def test_jobs(r, both, node):
    p = write_csv(node, "jobs.csv")
    shoal.import_file(str(p), progress=False)
    jobs_r = rjson(r, "shoal_list_jobs()")
    jobs_py = ops.list_jobs(both)["jobs"]
    assert [j["key"] for j in jobs_r] == [j["key"] for j in jobs_py]
    key = jobs_py[0]["key"]
    assert rjson(r, f'shoal_get_job("{key}")') == num_text(ops.get_job(both, key)["job"])
    # cancelling a finished job returns it unchanged, in both clients
    assert rjson(r, f'shoal_cancel_job("{key}")') == num_text(shoal.cancel(key))
    assert r('error_code(shoal_get_job("job_0123456789abcdef"))')[0] == _py_code(
        lambda: ops.get_job(both, "job_0123456789abcdef"))


def test_evaluate(r, both):
    """Frame expressions: the same tree through both clients gives the same frame or value."""
    shoal.Frame(pd.DataFrame({"x": [1.5, None, 4.0, -2.0], "g": pd.Categorical(["a", "b", "a", None])}),
                destination_frame="ev")
    col_x = {"op": "col", "frame": "ev", "name": "x"}
    r('col_x <- list(op = "col", frame = "ev", name = "x")')
    # a scalar
    mean_py = ops.evaluate(both, {"op": "mean", "args": [col_x], "na_rm": True})
    assert mean_py["kind"] == "scalar"
    assert r('shoal_evaluate(list(op = "mean", args = list(col_x), na_rm = TRUE))')[0] == mean_py["value"] == 3.5 / 3
    # NA without na_rm, in both
    assert r('is.na(shoal_evaluate(list(op = "mean", args = list(col_x))))')[0]
    assert ops.evaluate(both, {"op": "mean", "args": [col_x]})["value"] is None
    # a frame: x * 2 + 1 into a named destination, downloaded by both clients
    tree_py = {"op": "+", "args": [{"op": "*", "args": [col_x, 2]}, 1]}
    ops.evaluate(both, tree_py, dest="ev_py")
    r('ev_r <- shoal_evaluate(list(op = "+", args = list(list(op = "*", args = list(col_x, 2)), 1)), dest = "ev_r")')
    assert r_key(r, "ev_r") == "ev_r"
    assert rdf(r, "as.data.frame(ev_r)") == canon_df(shoal.get_frame("ev_py").as_data_frame())
    # a list value (one per column) and an error code
    names_py = ops.evaluate(both, {"op": "names", "args": [{"op": "frame", "key": "ev"}]})
    assert list(r('shoal_evaluate(list(op = "names", args = list(list(op = "frame", key = "ev"))))')) == \
        names_py["values"]
    assert r('error_code(shoal_evaluate(list(op = "no_such_op")))')[0] == _py_code(
        lambda: ops.evaluate(both, {"op": "no_such_op"})) == "invalid_parameter"


def test_shutdown(r, both, node_factory):
    """shutdown stops the node in both clients; R's call forgets its connection."""
    n_r = node_factory()
    n_py = node_factory()
    r(f'shoal_init(url = "{n_r.url}", verbose = FALSE)')
    r("shoal_shutdown()")
    assert r("is.null(shoal_connection())")[0]
    shoal.init(url=n_py.url, verbose=False)
    shoal.shutdown()
    for n in (n_r, n_py):
        n.proc.wait(timeout=20)
        assert n.proc.returncode is not None
    # reconnect both clients to the shared node for any later test
    shoal.init(url=both.url, verbose=False)
    r(f'shoal_init(url = "{both.url}", verbose = FALSE)')


# ---------------------------------------------------------------------------------------- models
def _model_frame() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 300
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                       "c": pd.Categorical(rng.choice(list("xyz"), n), categories=list("xyz"))})
    df.loc[[4, 9], "b"] = np.nan
    eta = 0.9 * df["a"] - 0.4 * df["b"].fillna(0) + (df["c"] == "y") * 0.5
    df["y"] = pd.Categorical(np.where(eta + rng.logistic(size=n) > 0, "yes", "no"), categories=["no", "yes"])
    return df


@pytest.fixture(scope="module")
def model_frame(both):
    shoal.Frame(_model_frame(), destination_frame="mfr")
    return "mfr"


def _same_model(r, r_expr: str, py_key: str, r_key_expected: str) -> None:
    """The R model's document equals Python's of a model trained the same way (ids and times aside)."""
    doc_r = rjson(r, f"shoal:::.model_json({r_expr})")
    doc_py = num_text(shoal.get_model(py_key)._model_json())
    assert doc_r["model_id"] == r_key_expected
    for d in (doc_r, doc_py):
        d.pop("model_id")
        d.pop("created_ms")
        d["parameters"].pop("model_id", None)
        d["output"].pop("run_time_ms", None)
        for row in d["output"].get("scoring_history_rows") or []:  # trees: wall-clock time per row
            row.pop("time", None)
        for tab in ("scoring_history",):
            if tab in d["output"]:  # wall-clock columns differ between two runs
                cols = d["output"][tab]["columns"]
                keep = [i for i, c in enumerate(cols) if c not in ("timestamp", "duration")]
                d["output"][tab]["data"] = [[row[i] for i in keep] for row in d["output"][tab]["data"]]
    diff = {k for k in set(doc_r["parameters"]) | set(doc_py["parameters"])
            if doc_r["parameters"].get(k) != doc_py["parameters"].get(k)}
    assert not diff, {k: (doc_r["parameters"].get(k), doc_py["parameters"].get(k)) for k in diff}
    diff = {k for k in set(doc_r["output"]) | set(doc_py["output"])
            if doc_r["output"].get(k) != doc_py["output"].get(k)}
    assert not diff, {k: (str(doc_r["output"].get(k))[:300], str(doc_py["output"].get(k))[:300]) for k in diff}
    assert doc_r == doc_py


def test_train_models(r, both, model_frame):
    """shoal_glm / shoal_gbm / shoal_randomForest and the generated train ops give the same models as
    shoal.GLM / GBM / DRF; get_model returns the same document in both clients."""
    r('m_glm <- shoal_glm(x = c("a", "b", "c"), y = "y", training_frame = "mfr", family = "binomial", '
      'lambda_value = 0, seed = 3, model_id = "glm_r", progress = FALSE)')
    shoal.GLM(family="binomial", lambda_value=0.0, seed=3, model_id="glm_py").train(
        x=["a", "b", "c"], y="y", training_frame=model_frame, progress=False)
    _same_model(r, "m_glm", "glm_py", "glm_r")
    r('m_gbm <- shoal_gbm(y = "y", training_frame = shoal_get_frame("mfr"), ntrees = 4L, max_depth = 3L, '
      'seed = 5, model_id = "gbm_r", progress = FALSE)')
    shoal.GBM(ntrees=4, max_depth=3, seed=5, model_id="gbm_py").train(y="y", training_frame=model_frame,
                                                                       progress=False)
    _same_model(r, "m_gbm", "gbm_py", "gbm_r")
    r('m_drf <- shoal_train_drf("mfr", "y", ntrees = 3L, max_depth = 4L, seed = 2, model_id = "drf_r", '
      'progress = FALSE)')
    shoal.DRF(ntrees=3, max_depth=4, seed=2, model_id="drf_py").train(y="y", training_frame=model_frame,
                                                                       progress=False)
    _same_model(r, "m_drf", "drf_py", "drf_r")
    # get_model through each client: one document
    assert rjson(r, 'shoal:::.model_json(shoal_get_model("glm_r"))') == num_text(ops.get_model(both, "glm_r")["model"])
    assert r('class(shoal_get_model("gbm_py"))')[0] == "ShoalModel"
    # the same parameter errors, all problems at once
    assert r('error_code(shoal_glm(y = "y", training_frame = "mfr", family = "nope", alpha = 2))')[0] == _py_code(
        lambda: shoal.GLM(family="nope", alpha=2.0).train(y="y", training_frame="mfr", progress=False)) \
        == "invalid_parameter"
    assert r('error_code(shoal_gbm(y = "y", training_frame = "no_frame_zz"))')[0] == _py_code(
        lambda: shoal.GBM().train(y="y", training_frame="no_frame_zz", progress=False)) == "frame_not_found"
    assert r('error_code(shoal_get_model("no_model_zz"))')[0] == _py_code(
        lambda: shoal.get_model("no_model_zz")) == "model_not_found"
    # print / summary work on R's side
    out = "\n".join(r('capture.output(print(m_glm))'))
    assert "glm_r" in out and "Coefficients" in out
    assert r('class(summary(m_gbm))')[0] == "ShoalModelSummary"


def test_predict_and_performance(r, both, model_frame):
    for key in ("glm_r", "gbm_r", "drf_r"):
        r(f'pr <- predict(shoal_get_model("{key}"), "mfr", progress = FALSE)')
        py = shoal.get_model(key).predict(model_frame, progress=False)
        assert rdf(r, "as.data.frame(pr)") == canon_df(py.as_data_frame())
        perf_r = rjson(r, f'unclass(shoal_performance(shoal_get_model("{key}"), newdata = "mfr"))')
        perf_py = num_text(ops.model_performance(both, key, "mfr")["metrics"])
        assert perf_r == perf_py
        assert float(perf_r["auc"]) == shoal.get_model(key).model_performance(model_frame).auc()
    # stored metrics, and the generated wrappers directly
    stored = rjson(r, 'unclass(shoal_performance("glm_r"))')
    assert stored == num_text(shoal.get_model("glm_r").output["training_metrics"])
    r('pr2 <- shoal_predict("gbm_r", frame = "mfr", destination_frame = "pred_r", progress = FALSE)')
    assert r_key(r, "pr2") == "pred_r"
    assert r('error_code(predict(shoal_get_model("glm_r"), "no_frame_zz"))')[0] == _py_code(
        lambda: shoal.get_model("glm_r").predict("no_frame_zz", progress=False)) == "frame_not_found"


def test_tree_contributions_and_leaf_assignment(r, both, model_frame):
    """TreeSHAP contributions and leaf node assignment: the same frames through both clients
    (binomial and multinomial GBM, DRF), the same error codes."""
    shoal.GBM(ntrees=3, max_depth=3, seed=7, model_id="par_gbm_bin").train(y="y", training_frame=model_frame,
                                                                          progress=False)
    shoal.GBM(ntrees=2, max_depth=2, seed=7, model_id="par_gbm_multi").train(x=["a", "b"], y="c",
                                                                            training_frame=model_frame,
                                                                            progress=False)
    shoal.DRF(ntrees=2, max_depth=3, seed=7, model_id="par_drf").train(y="y", training_frame=model_frame,
                                                                      progress=False)
    for key in ("par_gbm_bin", "par_gbm_multi", "par_drf"):
        m = shoal.get_model(key)
        r(f'tm <- shoal_get_model("{key}")')
        r('tc <- shoal_predict_contributions(tm, "mfr", progress = FALSE)')
        py = m.predict_contributions(model_frame, progress=False)
        _same_frame(r, "tc", py)
        for kind in ("Path", "Node_ID"):
            r(f'tl <- shoal_predict_leaf_node_assignment(tm, "mfr", type = "{kind}", progress = FALSE)')
            _same_frame(r, "tl", m.predict_leaf_node_assignment(model_frame, type=kind, progress=False))
    # the multinomial layout: one block per class, named <column>.<class>
    multi = shoal.get_model("par_gbm_multi").predict_contributions(model_frame, progress=False)
    assert multi.names == [f"{c}.{k}" for k in "xyz" for c in ("a", "b", "BiasTerm")]
    # the generated wrappers directly, with a destination
    r('tl2 <- shoal_model_leaf_node_assignment("par_gbm_bin", frame = "mfr", type = "Node_ID", '
      'destination_frame = "lna_r", progress = FALSE)')
    assert r_key(r, "tl2") == "lna_r"
    r('tc2 <- shoal_model_contributions("par_gbm_bin", frame = "mfr", destination_frame = "tc_r", '
      'progress = FALSE)')
    assert rdf(r, "as.data.frame(tc2)") == canon_df(
        shoal.get_model("par_gbm_bin").predict_contributions(model_frame, progress=False).as_data_frame())
    # errors: a GLM is refused, a bad type too, with the same codes in both clients
    shoal.GLM(family="binomial", model_id="par_glm").train(y="y", training_frame=model_frame, progress=False)
    assert r('error_code(shoal_predict_contributions("par_glm", "mfr"))')[0] == _py_code(
        lambda: ops.model_contributions(both, "par_glm", "mfr")) == "invalid_parameter"
    assert r('error_code(shoal_predict_leaf_node_assignment("par_gbm_bin", "mfr", type = "Nodes"))')[0] == _py_code(
        lambda: shoal.get_model("par_gbm_bin").predict_leaf_node_assignment("mfr", type="Nodes",
                                                                            progress=False)) == "invalid_parameter"
    assert r('error_code(shoal_predict_contributions("par_gbm_bin", "no_frame_zz"))')[0] == _py_code(
        lambda: shoal.get_model("par_gbm_bin").predict_contributions("no_frame_zz", progress=False)) \
        == "frame_not_found"


def test_list_and_delete_models(r, both, model_frame):
    r('m_tmp <- shoal_glm(y = "y", training_frame = "mfr", family = "binomial", model_id = "tmp_r", '
      'progress = FALSE)')
    shoal.GLM(family="binomial", model_id="tmp_py").train(y="y", training_frame=model_frame, progress=False)
    tab_r = rdf(r, "shoal_list_models()")
    tab_py = canon_df(shoal.list_models())
    assert tab_r == tab_py
    assert {"tmp_r", "tmp_py"} <= set(shoal.list_models()["model_id"])
    # delete through each client, seen by the other
    r('shoal_delete_model(m_tmp)')
    ops.delete_model(both, "tmp_py")
    assert not {"tmp_r", "tmp_py"} & set(r("shoal_list_models()$model_id"))
    assert not {"tmp_r", "tmp_py"} & set(shoal.list_models()["model_id"])
    assert r('error_code(shoal_delete_model("tmp_py"))')[0] == _py_code(
        lambda: ops.delete_model(both, "tmp_r")) == "model_not_found"


def test_save_load_and_scorer(r, both, node_factory, tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    n = node_factory(extra_args=["--export-root", str(export)])
    try:
        conn = shoal.init(url=n.url, verbose=False)
        r(f'shoal_init(url = "{n.url}", verbose = FALSE)')
        shoal.Frame(_model_frame(), destination_frame="mfr")
        shoal.GLM(family="binomial", model_id="sv_glm").train(y="y", training_frame="mfr", progress=False)
        shoal.GBM(ntrees=3, seed=1, model_id="sv_gbm").train(y="y", training_frame="mfr", progress=False)
        for key in ("sv_glm", "sv_gbm"):
            p_r = r(f'shoal_save_model("{key}", path = "{key}_r.shoal")')[0]
            p_py = shoal.get_model(key).save(f"{key}_py.shoal")
            assert p_r == str(export / f"{key}_r.shoal") and p_py == str(export / f"{key}_py.shoal")
            assert (export / f"{key}_r.shoal").read_bytes() == (export / f"{key}_py.shoal").read_bytes()
            r(f'm_l <- shoal_load_model("{p_py}", model_id = "{key}_lr")')
            shoal.load_model(p_r, model_id=f"{key}_lpy")
            assert r_key_model(r, "m_l") == f"{key}_lr"
            r(f'pl <- predict(m_l, "mfr", progress = FALSE)')
            assert rdf(r, "as.data.frame(pl)") == canon_df(
                shoal.get_model(f"{key}_lpy").predict("mfr", progress=False).as_data_frame())
            # the standalone scorer: the same text in both clients
            src_r = r(f'shoal_download_scorer("{key}")')[0]
            assert src_r == bytes(ops.download_scorer(conn, key)).decode("utf-8")
        assert r('error_code(shoal_save_model("sv_glm", path = "/etc/x.shoal"))')[0] == _py_code(
            lambda: shoal.get_model("sv_glm").save("/etc/x.shoal")) == "path_not_allowed"
        assert r('error_code(shoal_save_model("sv_glm", path = "sv_glm_r.shoal"))')[0] == _py_code(
            lambda: shoal.get_model("sv_glm").save("sv_glm_py.shoal")) == "conflict"
        assert r('error_code(shoal_load_model("/etc/passwd"))')[0] == _py_code(
            lambda: shoal.load_model("/etc/passwd")) == "path_not_allowed"
        assert r('error_code(shoal_download_scorer("no_model_zz"))')[0] == _py_code(
            lambda: ops.download_scorer(conn, "no_model_zz")) == "model_not_found"
    finally:
        shoal.init(url=both.url, verbose=False)
        r(f'shoal_init(url = "{both.url}", verbose = FALSE)')


def r_key_model(r, var: str) -> str:
    return r(f"shoal:::.model_key({var})")[0]


# ---------------------------------------------------------------------------------------- helpers
def _py_code(fn) -> str:
    try:
        fn()
    except shoal.ShoalError as e:
        return e.code
    return ""


def test_every_operation_has_a_parity_test():
    desc = json.loads(DESCRIPTION.read_text(encoding="utf-8"))
    ops_ = [o["name"] for o in desc["operations"]]
    missing = [o for o in ops_ if o not in PARITY_TESTS]
    assert not missing, f"operations without a parity test: {missing}"
    here = globals()
    for op, test in PARITY_TESTS.items():
        assert test in here and callable(here[test]), f"{op}: no test named {test}"


def test_r_functions_mirror_the_description(r):
    """Each operation's R function takes the API's parameter names (the generator's contract)."""
    desc = json.loads(DESCRIPTION.read_text(encoding="utf-8"))
    for op in desc["operations"]:
        formals = list(r(f"names(formals(shoal_{op['name']}))") or [])
        names = [p["name"] for p in op["params"]]
        extra = [f for f in formals if f not in names]
        assert set(names) <= set(formals), (op["name"], names, formals)
        assert set(extra) <= {"path", "data", "progress"}, (op["name"], extra)

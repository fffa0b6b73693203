"""Models on three whole `shoal-server` nodes: GLM trained on a frame spread over the nodes equals
GLM trained on the same file in one (in-process) node, and the model is replicated: every node
reads, scores, evaluates, saves and exports it, and a delete on one node removes it everywhere.

Tiny chunks (``--chunk-bytes 4096``) make the frame span every node.
"""
from __future__ import annotations

import io
import os
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

from harness import cluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

N = 3000
CHUNK_BYTES = 4096


def _write(path):
    rng = np.random.default_rng(11)
    x0 = rng.normal(size=N).round(5)
    x1 = rng.normal(1.0, 2.0, size=N).round(5)
    g = rng.choice(list("abcd"), N)
    eta = -0.3 + 0.9 * x0 - 0.4 * x1 + pd.Series(g).map({"a": 0, "b": 0.5, "c": -0.5, "d": 1.0}).to_numpy()
    yb = np.where(rng.random(N) < 1 / (1 + np.exp(-eta)), "Y", "N")
    yc = (eta + rng.normal(0, 0.5, N)).round(5)
    df = pd.DataFrame({"x0": x0, "x1": x1, "g": g, "yb": yb, "yc": yc})
    df.loc[::37, "x0"] = np.nan
    df.to_csv(path, index=False)
    return df


@pytest.fixture(scope="module")
def c3(tmp_path_factory):
    export = str(tmp_path_factory.mktemp("export"))
    with cluster(3, full=True, heartbeat_timeout=3.0,
                 extra_args=["--chunk-bytes", str(CHUNK_BYTES), "--export-root", export]) as c:
        path = os.path.join(c.dir, "data", "glm.csv")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        df = _write(path)
        code, body = c.nodes[0].post("/api/v1/import_file", {"path": [path], "destination_frame": "t"})
        assert code == 202, body
        assert c.nodes[0].wait_job(body["job"]["key"], timeout=300)["status"] == "DONE"
        yield c, path, df


@pytest.fixture(scope="module")
def one(c3, tmp_path_factory):
    """The same file parsed by one in-process node with the same chunk size."""
    from shoal_server.config import NodeConfig
    from shoal_server.node import Node
    from shoal_server.parser import parse_files
    import shoal_server.algos  # noqa: F401
    import shoal_server.metrics  # noqa: F401

    _c, path, _df = c3
    node = Node(NodeConfig(threads=1, chunk_bytes=CHUNK_BYTES, data_roots=[os.path.dirname(path)],
                           spool_dir=str(tmp_path_factory.mktemp("spool1"))))
    parse_files(node, [path], None, "t")
    yield node
    node.close()


PARAMS = {
    "binomial": {"y": "yb", "x": ["x0", "x1", "g"], "family": "binomial", "lambda_value": 0.0,
                 "standardize": True, "beta_epsilon": 1e-10},
    "gaussian": {"y": "yc", "x": ["x0", "x1", "g"], "family": "gaussian", "alpha": 0.5, "lambda_value": 1e-3,
                 "standardize": True},
}


def _train_on(node, key, family):
    code, body = node.post("/api/v1/model_builders/glm", dict(PARAMS[family], training_frame="t", model_id=key))
    assert code == 202, body
    job = node.wait_job(body["job"]["key"], timeout=300)
    assert job["status"] == "DONE", job
    return key


def _model(node, key):
    code, body = node.get(f"/api/v1/models/{key}")
    assert code == 200, body
    return body["model"]


def _scorer(node, key) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{node.port}/api/v1/models/{key}/scorer", timeout=30) as r:
        assert r.status == 200
        return r.read()


_METRICS = ("mse", "rmse", "r2", "logloss", "AUC", "auc", "pr_auc", "mean_residual_deviance", "mae",
            "residual_deviance", "null_deviance", "nobs")


def _scalars(metrics: dict) -> dict:
    return {k: metrics[k] for k in _METRICS if k in metrics}


def test_frame_spans_the_three_nodes(c3):
    c, _path, _df = c3
    code, body = c.nodes[1].get("/api/v1/frames/t?chunk_summary=true")
    assert code == 200, body
    rows = {r["node"]: r["rows"] for r in body["frame"]["chunk_summary"]["nodes"]}
    assert len(rows) == 3 and all(v > 0 for v in rows.values()) and sum(rows.values()) == N


@pytest.mark.parametrize("family", ["binomial", "gaussian"])
def test_glm_on_three_nodes_equals_one_node_and_is_served_by_every_node(c3, one, family):
    import shoal_server.algos as algos

    c, _path, df = c3
    key = f"glm3_{family}"
    _train_on(c.nodes[0], key, family)
    ref_key = algos.train(one, "glm", dict(PARAMS[family], training_frame="t", model_id=key))
    ref = algos.model_to_json(algos.get_model(one, ref_key))

    docs = [_model(n, key) for n in c.nodes]
    for d in docs:                        # replicated: every node holds the same model
        assert d["status"] == "DONE"
        assert d["output"]["coefficients"] == docs[0]["output"]["coefficients"]
        assert d["output"]["training_metrics"] == docs[0]["output"]["training_metrics"]
    got = docs[0]["output"]["coefficients"]
    want = ref["output"]["coefficients"]
    assert list(got) == list(want)
    for name in want:
        assert got[name] == pytest.approx(want[name], rel=1e-10, abs=1e-10), name
    gm, wm = _scalars(docs[0]["output"]["training_metrics"]), _scalars(ref["output"]["training_metrics"])
    assert gm.keys() == wm.keys() and len(gm) >= 3
    for k in wm:
        assert gm[k] == pytest.approx(wm[k], rel=1e-10, abs=1e-12), k

    # predict through node 2 (not the one that trained), read the predictions from node 1
    code, body = c.nodes[2].post(f"/api/v1/models/{key}/predict", {"frame": "t", "destination_frame": f"p_{family}"})
    assert code == 202, body
    assert c.nodes[2].wait_job(body["job"]["key"], timeout=300)["status"] == "DONE"
    code, data = c.nodes[1].download(f"p_{family}", "csv")
    assert code == 200, data[:300]
    pred = pd.read_csv(io.BytesIO(data))
    algos.predict(one, ref_key, "t", f"p_{family}")
    from shoal_server.store import codecs
    h = one.catalog.get(f"p_{family}")
    col = "Y" if family == "binomial" else "predict"
    ci = [cc.name for cc in h.columns].index(col)
    ref_pred = np.concatenate([codecs.decode_float64(one.chunks.get(h.key, ci, i)) for i in range(h.nchunks)])
    assert len(pred) == len(df)
    np.testing.assert_allclose(pred[col].to_numpy(), ref_pred, rtol=1e-9, atol=1e-12)

    # metrics on any frame from node 1 equal the training metrics
    code, body = c.nodes[1].post(f"/api/v1/models/{key}/performance", {"frame": "t"})
    assert code == 200, body
    perf = _scalars(body["metrics"])
    for k in wm:
        assert perf[k] == pytest.approx(wm[k], rel=1e-10, abs=1e-12), k

    # the standalone scorer is the same file from every node, and the same as the one-node model's
    scorers = [_scorer(n, key) for n in c.nodes]
    assert scorers[0] == scorers[1] == scorers[2]


def test_a_model_is_saved_by_a_node_that_did_not_train_it_and_loads_back(c3):
    c, _path, _df = c3
    key = "glm3_binomial"
    code, body = c.nodes[1].post(f"/api/v1/models/{key}/save", {"path": "saved_from_b.shoal", "force": True})
    assert code == 200, body
    import shoal_server.algos as algos
    from shoal_server.algos.common.persist import load_model_file
    saved = load_model_file(body["path"])
    assert saved.key == key and saved.algo == "glm"
    coefs = _model(c.nodes[0], key)["output"]["coefficients"]
    assert algos.model_to_json(saved)["output"]["coefficients"] == coefs


def test_unknown_model_is_404_model_not_found_on_every_node(c3):
    c, _path, _df = c3
    for n in c.nodes:
        code, body = n.get("/api/v1/models/no_such_model_zz")
        assert code == 404, body
        assert body["error"]["code"] == "model_not_found"
        assert "no_such_model_zz" in body["error"]["message"]


def test_a_model_deleted_through_one_node_disappears_from_all(c3):
    c, _path, _df = c3
    key = _train_on(c.nodes[2], "glm3_to_delete", "gaussian")
    for n in c.nodes:
        code, body = n.get("/api/v1/models")
        assert code == 200 and key in [m["model_id"] for m in body["models"]], body
    code, body = c.nodes[1].delete(f"/api/v1/models/{key}")
    assert code == 200, body
    for n in c.nodes:      # the delete returned after every member applied it: no waiting needed
        code, body = n.get(f"/api/v1/models/{key}")
        assert code == 404 and body["error"]["code"] == "model_not_found", body
        code, body = n.get("/api/v1/models")
        assert key not in [m["model_id"] for m in body["models"]]
    code, body = c.nodes[0].post(f"/api/v1/models/{key}/predict", {"frame": "t"})
    assert code == 404 and body["error"]["code"] == "model_not_found", body

"""The munging engine on three whole `shoal-server` nodes: expressions evaluated where the chunks
live, results published on every node, equal to pandas and to the same expression on one node.

One 3-node cluster serves the module; tiny chunks (``--chunk-bytes 4096``) make every frame span
every node.
"""
from __future__ import annotations

import io
import os

import numpy as np
import pandas as pd
import pytest

from harness import cluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def c3():
    with cluster(3, full=True, heartbeat_timeout=3.0, extra_args=["--chunk-bytes", "4096"]) as c:
        path = os.path.join(c.dir, "data", "m.csv")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        rng = np.random.default_rng(3)
        n = 4000
        df = pd.DataFrame({"g": rng.choice(["a", "b", "c"], n), "x": rng.normal(size=n).round(4),
                           "k": rng.integers(0, 20, n)})
        df.loc[::13, "x"] = np.nan
        df.to_csv(path, index=False)
        code, body = c.nodes[0].post("/api/v1/import_file", {"path": [path], "destination_frame": "m"})
        assert code == 202, body
        assert c.nodes[0].wait_job(body["job"]["key"], timeout=300)["status"] == "DONE"
        yield c, df


def _eval(node, expr, dest=None):
    body = {"expr": expr}
    if dest:
        body["dest"] = dest
    code, res = node.post("/api/v1/evaluate", body, timeout=300)
    assert code == 200, res
    return res


def _frame(node, key) -> pd.DataFrame:
    code, data = node.download(key, "csv")
    assert code == 200, data[:300]
    return pd.read_csv(io.BytesIO(data))


def _col(name):
    return {"op": "col", "frame": "m", "name": name}


def test_filter_assign_group_by_sort_and_merge_on_three_nodes(c3):
    c, df = c3
    fr = {"op": "frame", "key": "m"}
    mask = {"op": "&", "args": [{"op": "==", "args": [_col("g"), "b"]}, {"op": ">", "args": [_col("x"), 0]}]}
    _eval(c.nodes[1], {"op": "rows", "args": [fr, mask]}, "m_f")
    want = df[(df["g"] == "b") & (df["x"] > 0)].reset_index(drop=True)
    for node in c.nodes:  # published on every node
        got = _frame(node, "m_f")
        np.testing.assert_array_equal(got["x"].to_numpy(), want["x"].to_numpy())
    _eval(c.nodes[2], {"op": "assign", "args": [fr, {"op": "*", "args": [_col("x"), 2]}], "name": "x2"}, "m_a")
    got = _frame(c.nodes[0], "m_a")
    np.testing.assert_allclose(got["x2"].to_numpy(), df["x"].to_numpy() * 2, equal_nan=True)
    _eval(c.nodes[0], {"op": "group_by", "args": [fr], "by": ["g"],
                       "aggs": [{"agg": "nrow"}, {"agg": "mean", "col": "x", "na": "rm"},
                                {"agg": "median", "col": "x", "na": "rm"}]}, "m_g")
    got = _frame(c.nodes[1], "m_g")
    want = df.groupby("g").agg(nrow=("x", "size"), mean_x=("x", "mean"), median_x=("x", "median")).reset_index()
    assert got["g"].tolist() == want["g"].tolist() and got["nrow"].tolist() == want["nrow"].tolist()
    np.testing.assert_allclose(got["mean_x"], want["mean_x"], rtol=1e-12)
    np.testing.assert_allclose(got["median_x"], want["median_x"], rtol=1e-12)
    _eval(c.nodes[2], {"op": "sort", "args": [fr], "by": ["k", "x"], "ascending": [False, True]}, "m_s")
    got = _frame(c.nodes[0], "m_s")
    want = df.sort_values(["k", "x"], ascending=[False, True], kind="stable", na_position="last")
    np.testing.assert_array_equal(got["x"].to_numpy(), want["x"].to_numpy())
    _eval(c.nodes[1], {"op": "merge", "args": [fr, {"op": "frame", "key": "m_g"}]}, "m_j")
    got = _frame(c.nodes[2], "m_j")
    assert len(got) == len(df) and set(got.columns) == {"g", "x", "k", "nrow", "mean_x", "median_x"}
    r = _eval(c.nodes[0], {"op": "sd", "args": [_col("x")], "na_rm": True})
    assert r["value"] == pytest.approx(df["x"].std(), rel=1e-12)


def test_the_same_expression_gives_the_same_frame_from_every_coordinator(c3):
    c, _df = c3
    expr = {"op": "group_by", "args": [{"op": "frame", "key": "m"}], "by": ["k", "g"],
            "aggs": [{"agg": "sd", "col": "x", "na": "rm"}, {"agg": "sum", "col": "x", "na": "rm"}]}
    bodies = []
    for i, node in enumerate(c.nodes):
        _eval(node, expr, f"m_same{i}")
        code, data = c.nodes[0].download(f"m_same{i}", "csv")
        assert code == 200
        bodies.append(data)
    assert bodies[0] == bodies[1] == bodies[2]

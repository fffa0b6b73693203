"""The client's lazy expression builder produces trees the server evaluates (no HTTP here)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shoal.expr import Expr, frame, ifelse
from shoal_server.munging import evaluate

from munging_helpers import make_frame, to_pandas


@pytest.fixture(scope="module")
def flights(node):
    df = pd.DataFrame({"origin": pd.Categorical(["JFK", "LGA", "JFK", "EWR", None, "JFK"]),
                       "month": pd.array([5, 6, 7, 6, 8, 9], dtype="Int64"),
                       "dep_delay": [10.0, 20.0, np.nan, 40.0, 16.0, -3.0]})
    make_frame(node, df, "flights", 2)
    return df


def test_operators_build_the_documented_json():
    fr = frame("f1")
    e = fr["dep_delay"] > 15
    assert e.tree == {"op": "gt", "args": [{"op": "col", "args": [{"op": "frame", "key": "f1"}], "name": "dep_delay"},
                                           15]}
    assert (1 - fr["x"]).tree["args"][0] == 1
    with pytest.raises(TypeError, match="no truth value"):
        bool(e)


def test_issue_examples_run_on_the_server(node, flights):
    fr = frame("flights")
    r = evaluate(node, fr.assign(dep_delayed=fr["dep_delay"] > 15).tree, "f_new")
    assert r["frame"]["names"][-1] == "dep_delayed"
    np.testing.assert_array_equal(to_pandas(node, "f_new")["dep_delayed"].to_numpy(), [0, 1, np.nan, 1, 1, 0])
    late = fr[(fr["origin"] == "JFK") & (fr["month"] >= 6), :]
    evaluate(node, late.tree, "late")
    assert to_pandas(node, "late")["month"].tolist() == [7.0, 9.0]
    g = fr.group_by(["origin"]).count().mean("dep_delay", na="rm").sd("dep_delay", na="rm")
    evaluate(node, g.frame.tree, "g")
    out = to_pandas(node, "g")
    assert list(out.columns) == ["origin", "nrow", "mean_dep_delay", "sdev_dep_delay"]
    assert out["origin"].tolist() == ["EWR", "JFK", "LGA", None]
    assert out["nrow"].tolist() == [1.0, 3.0, 1.0, 1.0]
    q = evaluate(node, fr["dep_delay"].quantile(prob=[0.5], combine_method="interpolate").tree, "q")
    assert q["frame"]["nrow"] == 1 and to_pandas(node, "q")["dep_delayQuantiles"].tolist() == [16.0]
    s = evaluate(node, fr.sort(["origin", "dep_delay"], ascending=[True, False]).tree, "s")
    assert s["frame"]["nrow"] == 6
    parts = evaluate(node, fr.split_frame(ratios=[0.5], seed=42).tree, "parts")
    assert sum(p["nrow"] for p in parts["frames"]) == 6
    masked = fr.set_where(fr["dep_delay"] < 0, "dep_delay", 0)
    evaluate(node, masked.tree, "masked")
    assert to_pandas(node, "masked")["dep_delay"].tolist()[-1] == 0.0
    assert evaluate(node, fr["dep_delay"].mean(na_rm=True).tree)["value"] == pytest.approx(83 / 5)
    assert evaluate(node, ifelse(fr["month"] > 6, "summer", "spring").tree, "se")["frame"]["domains"] == \
        [["spring", "summer"]]
    assert isinstance(fr[1:3], Expr) and fr[[0, 2], "origin"].tree["op"] == "rows"

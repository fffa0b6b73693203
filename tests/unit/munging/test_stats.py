"""cor, hist, stratified_kfold_column, set_levels, relevel."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal_server.errors import InvalidParameter
from shoal_server.munging import evaluate

from munging_helpers import col, fr, make_frame, to_pandas
from munging_strategies import CHUNK_ROWS, frames

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(df=frames(min_rows=3), rows=CHUNK_ROWS, use=st.sampled_from(["everything", "complete.obs"]))
def test_cor_matches_pandas(node, df, rows, use):
    make_frame(node, df, "co", rows)
    got = evaluate(node, {"op": "cor", "args": [col("co", "x"), col("co", "y")], "use": use})["value"]
    x, y = df["x"].to_numpy(), df["y"].to_numpy()
    m = ~np.isnan(x) & ~np.isnan(y)
    if use == "everything" and not m.all():
        assert got is None
        return
    with np.errstate(all="ignore"):
        want = np.corrcoef(x[m], y[m])[0, 1] if m.sum() > 1 else np.nan
    if np.isnan(want):
        assert got is None or np.isnan(got)
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_cor_matrix_of_frames(node):
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50), "c": rng.normal(size=50)})
    make_frame(node, df, "cm", 7)
    evaluate(node, {"op": "cor", "args": [fr("cm")]}, "cm_out")
    np.testing.assert_allclose(to_pandas(node, "cm_out").to_numpy(), df.corr().to_numpy(), rtol=1e-12)


def test_hist_counts_match_numpy(node):
    x = np.array([0.0, 1.0, 1.5, 2.0, 3.9, 4.0, np.nan, 2.5])
    make_frame(node, pd.DataFrame({"x": x}), "hi", 3)
    evaluate(node, {"op": "hist", "args": [fr("hi")], "breaks": 4}, "hi_out")
    out = to_pandas(node, "hi_out")
    assert list(out.columns) == ["lower", "upper", "counts", "mids", "density"]
    np.testing.assert_allclose(out["lower"], [0.0, 1.0, 2.0, 3.0])
    assert out["counts"].tolist() == [2.0, 2.0, 1.0, 2.0]  # (a, b] bins, the first closed: R's hist
    np.testing.assert_allclose(out["density"].sum() * 1.0, 1.0)
    evaluate(node, {"op": "hist", "args": [fr("hi")], "breaks": [0, 2, 4]}, "hi_out")
    assert to_pandas(node, "hi_out")["counts"].tolist() == [4.0, 3.0]
    with pytest.raises(InvalidParameter):
        evaluate(node, {"op": "hist", "args": [fr("hi")], "breaks": [2, 1]})


def test_stratified_kfold_balances_each_class_and_is_layout_independent(node):
    y = pd.Categorical(["a"] * 30 + ["b"] * 9 + [None] * 6)
    outs = []
    for rows in (4, 1000):
        make_frame(node, pd.DataFrame({"y": y}), "sk", rows)
        r = evaluate(node, {"op": "stratified_kfold_column", "args": [col("sk", "y")], "nfolds": 3, "seed": 11}, "sk2")
        assert r["frame"]["types"] == ["int"]
        outs.append(to_pandas(node, "sk2")["fold"].to_numpy())
    np.testing.assert_array_equal(outs[0], outs[1])
    folds = outs[0]
    for cls in (slice(0, 30), slice(30, 39), slice(39, 45)):
        counts = np.bincount(folds[cls].astype(int), minlength=3)
        assert counts.max() - counts.min() <= 1


def test_set_levels_and_relevel(node):
    df = pd.DataFrame({"c": pd.Categorical(["b", "a", None, "c", "a"])})
    make_frame(node, df, "lv", 2)
    r = evaluate(node, {"op": "set_levels", "args": [fr("lv")], "levels": ["x", "y", "z"]}, "lv2")
    assert r["frame"]["domains"] == [["x", "y", "z"]]
    assert to_pandas(node, "lv2")["c"].tolist() == ["y", "x", None, "z", "x"]
    r = evaluate(node, {"op": "relevel", "args": [fr("lv")], "y": "c"}, "lv3")
    assert r["frame"]["domains"] == [["c", "a", "b"]]
    assert to_pandas(node, "lv3")["c"].tolist() == ["b", "a", None, "c", "a"]
    # comparisons by level text still hold on the unsorted domain
    evaluate(node, {"op": "<", "args": [col("lv3", "c"), "b"]}, "lv4")
    np.testing.assert_array_equal(to_pandas(node, "lv4")["c"].to_numpy(), [0.0, 1.0, np.nan, 0.0, 1.0])
    # group_by follows the level order of the domain
    evaluate(node, {"op": "group_by", "args": [fr("lv3")], "by": ["c"]}, "lv5")
    assert to_pandas(node, "lv5")["c"].tolist() == ["c", "a", "b", None]
    with pytest.raises(InvalidParameter, match="has 3 levels"):
        evaluate(node, {"op": "set_levels", "args": [fr("lv")], "levels": ["x"]})

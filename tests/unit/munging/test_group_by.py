"""group_by against pandas groupby (dropna=False, sorted keys, sample sd), H2O's names and na modes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal_server.errors import InvalidParameter
from shoal_server.munging import evaluate

from munging_helpers import fr, make_frame, to_pandas
from munging_strategies import CHUNK_ROWS, frames

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

PANDAS = {"sum": "sum", "mean": "mean", "min": "min", "max": "max", "sd": "std", "var": "var", "median": "median"}
NAMES = {"sum": "sum", "mean": "mean", "min": "min", "max": "max", "sd": "sdev", "var": "var", "median": "median",
         "ss": "sumSquares", "mode": "mode"}


def _close(got, want):
    got, want = np.asarray(got, float), np.asarray(want, float)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)], rtol=1e-9, atol=1e-9)


def _agg(s: pd.Series, agg: str, na: str) -> float:
    v = s.to_numpy(float)
    present = v[~np.isnan(v)]
    if na == "all" and len(present) < len(v):
        return np.nan
    if agg == "ss":
        return float(np.sum(present ** 2))
    if agg == "mode":
        if not len(present):
            return np.nan
        u, c = np.unique(present, return_counts=True)
        return float(u[np.argmax(c)])
    if na == "ignore" and agg == "mean":
        return float(present.sum() / len(v)) if len(present) else np.nan
    return float(getattr(pd.Series(present), PANDAS[agg])()) if len(present) or agg == "sum" else np.nan


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS, keys=st.sampled_from([["c"], ["k"], ["c", "k"], ["k", "c"]]),
       aggs=st.lists(st.tuples(st.sampled_from(sorted(NAMES)), st.sampled_from(["x", "y"]),
                               st.sampled_from(["all", "rm", "ignore"])), min_size=1, max_size=4, unique=True))
def test_group_by_matches_pandas(node, df, rows, keys, aggs):
    aggs = [a for a in aggs if not (a[2] == "ignore" and a[0] in ("sd", "var", "median"))]
    if not aggs:
        return
    make_frame(node, df, "gb", rows)
    spec = [{"agg": "nrow"}] + [{"agg": a, "col": c, "na": na} for a, c, na in aggs]
    r = evaluate(node, {"op": "group_by", "args": [fr("gb")], "by": keys, "aggs": spec}, "gb_out")
    names = keys + ["nrow"] + [f"{NAMES[a]}_{c}" for a, c, _na in aggs]
    names = [n if names.index(n) == i else f"{n}_{names[:i].count(n) + 1}" for i, n in enumerate(names)]
    assert r["frame"]["names"] == names
    got = to_pandas(node, "gb_out")
    pdf = df.astype({"c": object, "k": "Float64"})
    tuples = [tuple(None if pd.isna(v) else v for v in row) for row in pdf[keys].itertuples(index=False)]
    want_keys = sorted(set(tuples), key=lambda t: tuple((v is None, 0 if v is None else v) for v in t))
    assert len(got) == len(want_keys)
    for j, key in enumerate(keys):
        want_col = [t[j] for t in want_keys]
        got_col = got.iloc[:, j].tolist()
        if key == "c":
            assert got_col == want_col
        else:
            _close(got_col, [np.nan if v is None else float(v) for v in want_col])
    groups = [pdf[[t == key for t in tuples]] for key in want_keys]
    _close(got["nrow"], [len(g) for g in groups])
    for i, (a, c, na) in enumerate(aggs):
        want = [_agg(g[c].astype(float), a, na) for g in groups]
        _close(got.iloc[:, len(keys) + 1 + i], want)


def test_h2o_ignore_semantics_for_mean_and_median(node):
    df = pd.DataFrame({"g": pd.Categorical(["a"] * 4), "v": [1.0, 2.0, 3.0, np.nan]})
    make_frame(node, df, "ig", 2)
    evaluate(node, {"op": "group_by", "args": [fr("ig")], "by": "g",
                    "aggs": [{"agg": "mean", "col": "v", "na": "ignore"}, {"agg": "median", "col": "v", "na": "ignore"},
                             {"agg": "mean", "col": "v", "na": "rm"}, {"agg": "median", "col": "v", "na": "rm"},
                             {"agg": "mean", "col": "v"}]}, "ig2")
    out = to_pandas(node, "ig2")
    assert out.iloc[0, 1:].tolist()[:4] == [1.5, 1.5, 2.0, 2.0] and np.isnan(out.iloc[0, 5])


def test_group_by_result_is_chunk_invariant(node):
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"g": pd.Categorical(rng.choice(list("abcde"), 500)), "v": rng.normal(size=500)})
    outs = []
    for rows in (1, 7, 64, 1000):
        make_frame(node, df, "ci", rows)
        evaluate(node, {"op": "group_by", "args": [fr("ci")], "by": ["g"],
                        "aggs": [{"agg": "sd", "col": "v"}, {"agg": "sum", "col": "v"}, {"agg": "median", "col": "v"}]},
                 "ci2")
        outs.append(to_pandas(node, "ci2"))
    for o in outs[1:]:
        np.testing.assert_allclose(o.iloc[:, 1:].to_numpy(), outs[0].iloc[:, 1:].to_numpy(), rtol=1e-12)


def test_group_by_refuses_unknown_aggregates_and_string_keys(node):
    df = pd.DataFrame({"s": pd.Series(["a"], dtype=object), "v": [1.0]})
    make_frame(node, df, "gr", 1)
    with pytest.raises(InvalidParameter, match="Unknown aggregate `avg`"):
        evaluate(node, {"op": "group_by", "args": [fr("gr")], "by": ["v"], "aggs": [{"agg": "avg", "col": "v"}]})
    with pytest.raises(InvalidParameter, match="keys must be enum or numeric"):
        evaluate(node, {"op": "group_by", "args": [fr("gr")], "by": ["s"]})

"""Reducers, cumulative scans, unique and table against numpy/pandas, on many chunk layouts."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal_server.errors import InvalidParameter
from shoal_server.munging import evaluate

from munging_helpers import col, fr, make_frame, to_pandas
from munging_strategies import CHUNK_ROWS, frames

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _expected(op: str, x: np.ndarray, na_rm: bool):
    present = x[~np.isnan(x)]
    if op == "nacnt":
        return int(np.isnan(x).sum())
    if op in ("all", "any"):
        s = pd.Series(x, dtype="Float64").astype("boolean")
        return None if (r := (s.all(skipna=na_rm) if op == "all" else s.any(skipna=na_rm))) is pd.NA else bool(r)
    if not na_rm and len(present) < len(x):
        return None
    if op == "sum":
        return float(present.sum())
    if op == "prod":
        return float(np.prod(present))
    if not len(present):
        return None
    if op in ("sd", "var"):
        if len(present) < 2:
            return None
        return float(np.std(present, ddof=1) if op == "sd" else np.var(present, ddof=1))
    return float({"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}[op](present))


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS, op=st.sampled_from(["sum", "mean", "median", "min", "max", "sd", "var", "prod",
                                                         "nacnt", "all", "any"]),
       na_rm=st.booleans(), column=st.sampled_from(["x", "k"]))
def test_reducers_match_numpy(node, df, rows, op, na_rm, column):
    make_frame(node, df, "rd", rows)
    got = evaluate(node, {"op": op, "args": [col("rd", column)], "na_rm": na_rm})
    assert got["kind"] == "scalar"
    x = df[column].astype("Float64").to_numpy(float, na_value=np.nan)
    want = _expected(op, x, na_rm)
    if want is None or isinstance(want, bool):
        assert got["value"] == want
    else:
        assert got["value"] == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_reducer_over_a_frame_gives_one_value_per_column_and_ints_stay_int(node):
    df = pd.DataFrame({"a": [1.0, 2.5], "k": pd.array([2, 3], dtype="Int64")})
    make_frame(node, df, "rf", 1)
    assert evaluate(node, {"op": "sum", "args": [fr("rf")]}) == {"kind": "list", "values": [3.5, 5]}
    assert evaluate(node, {"op": "nrow", "args": [fr("rf")]})["value"] == 2
    assert evaluate(node, {"op": "names", "args": [fr("rf")]})["values"] == ["a", "k"]


def test_reducer_on_text_columns_is_refused_except_nacnt(node):
    df = pd.DataFrame({"c": pd.Categorical(["a", None])})
    make_frame(node, df, "rt", 1)
    with pytest.raises(InvalidParameter, match="needs numeric columns"):
        evaluate(node, {"op": "mean", "args": [fr("rt")]})
    assert evaluate(node, {"op": "nacnt", "args": [fr("rt")]})["value"] == 1


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS, op=st.sampled_from(["cumsum", "cumprod", "cummin", "cummax"]))
def test_cumulative_scans_match_pandas_skipna_across_chunks(node, df, rows, op):
    make_frame(node, df, "cu", rows)
    evaluate(node, {"op": op, "args": [col("cu", "x")]}, "cu_out")
    want = getattr(df["x"], op)().to_numpy()
    got = to_pandas(node, "cu_out")["x"].to_numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)], rtol=1e-9)


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS, column=st.sampled_from(["x", "c", "s", "k"]))
def test_unique_is_sorted_with_missing_last(node, df, rows, column):
    make_frame(node, df, "un", rows)
    evaluate(node, {"op": "unique", "args": [col("un", column)]}, "un_out")
    got = to_pandas(node, "un_out")[column].tolist()
    s = df[column].astype(object) if column in ("c", "s") else df[column].astype("Float64")
    present = sorted({v for v in s if not pd.isna(v)}, key=lambda v: v.encode() if isinstance(v, str) else v)
    want = present + ([None] if s.isna().any() else [])
    if column in ("x", "k"):
        want = [float(v) if v is not None else None for v in want]
        got = [None if (isinstance(v, float) and math.isnan(v)) else v for v in got]
        if column == "x":  # 0.0 and -0.0 are one value
            assert len(got) == len(want) and all(g == w for g, w in zip(got, want))
            return
    assert got == want


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS)
def test_table_counts_match_value_counts(node, df, rows):
    make_frame(node, df, "tb", rows)
    evaluate(node, {"op": "table", "args": [col("tb", "c")]}, "tb_out")
    out = to_pandas(node, "tb_out")
    want = df["c"].astype(object).dropna().value_counts().sort_index()
    assert out["c"].tolist() == want.index.tolist()
    assert out["Count"].tolist() == [float(v) for v in want.tolist()]
    evaluate(node, {"op": "table", "args": [col("tb", "c"), col("tb", "k")]}, "tb2")
    out2 = to_pandas(node, "tb2")
    w2 = df.astype({"c": object}).dropna(subset=["c", "k"]).groupby(["c", "k"]).size()
    assert [(a, int(b)) for a, b in zip(out2["c"], out2["k"])] == [(a, int(b)) for a, b in w2.index]
    assert out2["Count"].tolist() == [float(v) for v in w2.tolist()]

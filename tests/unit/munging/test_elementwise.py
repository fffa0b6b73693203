"""Elementwise ops against pandas nullable semantics (NA propagates, Kleene logic), on frames cut
into chunks of 1..1000 rows (so every result is chunk-invariant)."""
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

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _f(s: pd.Series) -> pd.Series:
    return pd.Series(s, dtype="Float64")


def _np(s) -> np.ndarray:
    return pd.Series(s).astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _same(got: np.ndarray, want: np.ndarray):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-12, atol=0)


ARITH = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
         "**": lambda a, b: a ** b}
CMP = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
       ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS, op=st.sampled_from(sorted(ARITH) + sorted(CMP)))
def test_binary_ops_on_two_columns_match_pandas_nullable(node, df, rows, op):
    make_frame(node, df, "ew", rows)
    res = evaluate(node, {"op": op, "args": [col("ew", "x"), col("ew", "y")]}, "ew_out")
    fn = ARITH.get(op) or CMP[op]
    with np.errstate(all="ignore"):
        want = _np(fn(_f(df["x"]), _f(df["y"])))
    got = to_pandas(node, "ew_out")["x"].to_numpy()
    _same(got, want)
    assert res["frame"]["types"] == ["bool" if op in CMP else "real"]
    assert res["frame"]["nrow"] == len(df)


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS, op=st.sampled_from(["//", "%"]), k=st.sampled_from([-2.0, 0.0, 0.5, 3.0]))
def test_floor_division_and_modulo_follow_python_with_na(node, df, rows, op, k):
    make_frame(node, df, "ew", rows)
    evaluate(node, {"op": op, "args": [col("ew", "x"), k]}, "ew_out")
    x = df["x"].to_numpy()
    with np.errstate(all="ignore"):
        want = np.floor_divide(x, k) if op == "//" else (np.mod(x, k) if k != 0 else np.full(len(x), np.nan))
    _same(to_pandas(node, "ew_out")["x"].to_numpy(), want)


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS, op=st.sampled_from(["&", "|"]))
def test_and_or_use_kleene_logic(node, df, rows, op):
    make_frame(node, df, "ew", rows)
    a = {"op": ">", "args": [col("ew", "x"), 0]}
    b = {"op": "<", "args": [col("ew", "y"), 1]}
    evaluate(node, {"op": op, "args": [a, b]}, "ew_out")
    pa, pb = _f(df["x"]) > 0, _f(df["y"]) < 1
    want = _np((pa & pb) if op == "&" else (pa | pb))
    _same(to_pandas(node, "ew_out")["x"].to_numpy(), want)


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS)
def test_not_and_isna(node, df, rows):
    make_frame(node, df, "ew", rows)
    evaluate(node, {"op": "cbind", "args": [
        {"op": "~", "args": [{"op": ">", "args": [col("ew", "x"), 0]}]},
        {"op": "isna", "args": [col("ew", "y")]},
        {"op": "isna", "args": [col("ew", "c")]},
        {"op": "isna", "args": [col("ew", "s")]}]}, "ew_out")
    out = to_pandas(node, "ew_out")
    _same(out.iloc[:, 0].to_numpy(), _np(~(_f(df["x"]) > 0)))
    np.testing.assert_array_equal(out.iloc[:, 1].to_numpy(), df["y"].isna().to_numpy().astype(float))
    np.testing.assert_array_equal(out.iloc[:, 2].to_numpy(), df["c"].isna().to_numpy().astype(float))
    np.testing.assert_array_equal(out.iloc[:, 3].to_numpy(), df["s"].isna().to_numpy().astype(float))


MATH = {"abs": np.abs, "ceil": np.ceil, "floor": np.floor, "trunc": np.trunc, "sign": np.sign, "sqrt": np.sqrt,
        "exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "log2": np.log2, "log10": np.log10,
        "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
        "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh}


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS, op=st.sampled_from(sorted(MATH)))
def test_unary_math_matches_numpy(node, df, rows, op):
    make_frame(node, df, "ew", rows)
    evaluate(node, {"op": op, "args": [col("ew", "x")]}, "ew_out")
    with np.errstate(all="ignore"):
        want = MATH[op](df["x"].to_numpy())
    _same(to_pandas(node, "ew_out")["x"].to_numpy(), want)


def test_round_half_even_and_signif(node):
    df = pd.DataFrame({"x": [0.5, 1.5, 2.5, -0.5, 1.25, np.nan, 123456.0, 0.0012345]})
    make_frame(node, df, "rd", 3)
    evaluate(node, {"op": "round", "args": [col("rd", "x")]}, "rd0")
    assert to_pandas(node, "rd0")["x"].tolist()[:5] == [0.0, 2.0, 2.0, -0.0, 1.0]
    evaluate(node, {"op": "round", "args": [col("rd", "x")], "digits": 1}, "rd1")
    assert to_pandas(node, "rd1")["x"].tolist()[4] == 1.2
    evaluate(node, {"op": "signif", "args": [col("rd", "x")], "digits": 2}, "sg")
    got = to_pandas(node, "sg")["x"].to_numpy()
    np.testing.assert_allclose(got[[6, 7]], [120000.0, 0.0012])
    assert np.isnan(got[5])


def test_integer_arithmetic_stays_int_and_division_is_real(node):
    df = pd.DataFrame({"k": pd.array([1, 2, None, -4], dtype="Int64")})
    make_frame(node, df, "ik", 2)
    r = evaluate(node, {"op": "*", "args": [col("ik", "k"), 3]}, "ik2")
    assert r["frame"]["types"] == ["int"]
    _same(to_pandas(node, "ik2")["k"].to_numpy(), np.array([3.0, 6.0, np.nan, -12.0]))
    assert evaluate(node, {"op": "/", "args": [col("ik", "k"), 2]}, "ik3")["frame"]["types"] == ["real"]
    assert evaluate(node, {"op": "abs", "args": [col("ik", "k")]}, "ik4")["frame"]["types"] == ["int"]


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS, lit=st.sampled_from(["a", "b", "c", "dd", "zz", "", "b0"]),
       op=st.sampled_from(sorted(CMP)))
def test_enum_columns_compare_with_strings_by_level(node, df, rows, lit, op):
    make_frame(node, df, "en", rows)
    evaluate(node, {"op": op, "args": [col("en", "c"), lit]}, "en_out")
    levels = df["c"].astype(object)
    miss = levels.isna().to_numpy()
    want = np.array([np.nan if m else float(CMP[op](v, lit)) for v, m in zip(levels, miss)])
    _same(to_pandas(node, "en_out")["c"].to_numpy(), want)
    # the mirrored form: "lit op column"
    evaluate(node, {"op": op, "args": [lit, col("en", "c")]}, "en_out2")
    want2 = np.array([np.nan if m else float(CMP[op](lit, v)) for v, m in zip(levels, miss)])
    _same(to_pandas(node, "en_out2")["c"].to_numpy(), want2)


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS, lit=st.sampled_from(["x", "yy", "", "é", "nope"]),
       op=st.sampled_from(["==", "!="]))
def test_string_columns_compare_with_strings(node, df, rows, lit, op):
    make_frame(node, df, "st", rows)
    evaluate(node, {"op": op, "args": [col("st", "s"), lit]}, "st_out")
    want = np.array([np.nan if v is None else float(CMP[op](v, lit)) for v in df["s"]])
    _same(to_pandas(node, "st_out")["s"].to_numpy(), want)


def test_enum_columns_with_different_domains_compare_by_level(node):
    df = pd.DataFrame({"a": pd.Categorical(["x", "y", None, "z"]), "b": pd.Categorical(["y", "y", "x", "a"])})
    make_frame(node, df, "e2", 2)
    evaluate(node, {"op": "==", "args": [col("e2", "a"), col("e2", "b")]}, "e2o")
    _same(to_pandas(node, "e2o")["a"].to_numpy(), np.array([0.0, 1.0, np.nan, 0.0]))
    evaluate(node, {"op": "<", "args": [col("e2", "a"), col("e2", "b")]}, "e2o")
    _same(to_pandas(node, "e2o")["a"].to_numpy(), np.array([1.0, 0.0, np.nan, 0.0]))


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS)
def test_ifelse_numeric_and_text(node, df, rows):
    make_frame(node, df, "ie", rows)
    test = {"op": ">", "args": [col("ie", "x"), 0]}
    evaluate(node, {"op": "ifelse", "args": [test, col("ie", "y"), -1]}, "ie1")
    t = _np(_f(df["x"]) > 0)
    want = np.where(np.isnan(t), np.nan, np.where(t == 1, df["y"].to_numpy(), -1.0))
    _same(to_pandas(node, "ie1")["y"].to_numpy(), want)
    r = evaluate(node, {"op": "ifelse", "args": [test, "big", col("ie", "c")]}, "ie2")
    assert r["frame"]["types"] == ["enum"]
    got = to_pandas(node, "ie2").iloc[:, 0].tolist()
    cats = df["c"].astype(object).tolist()
    want2 = [None if np.isnan(v) else ("big" if v == 1 else (None if pd.isna(c) else c)) for v, c in zip(t, cats)]
    assert got == want2


def test_frame_with_scalar_broadcasts_over_every_column_and_keeps_names(node):
    df = pd.DataFrame({"a": [1.0, 2.0, np.nan], "b": [4.0, 5.0, 6.0]})
    make_frame(node, df, "bc", 2)
    r = evaluate(node, {"op": "-", "args": [10, fr("bc")]}, "bc2")
    assert r["frame"]["names"] == ["a", "b"]
    out = to_pandas(node, "bc2")
    _same(out["a"].to_numpy(), np.array([9.0, 8.0, np.nan]))
    _same(out["b"].to_numpy(), np.array([6.0, 5.0, 4.0]))


@pytest.mark.parametrize("expr, needle", [
    ({"op": "+", "args": [{"op": "col", "frame": "ty", "name": "c"}, 1]}, "needs numbers"),
    ({"op": "<", "args": [{"op": "col", "frame": "ty", "name": "s"}, "a"]}, "only == and !="),
    ({"op": "==", "args": [{"op": "col", "frame": "ty", "name": "c"}, 1]}, "Cannot compare"),
    ({"op": "+", "args": [{"op": "col", "frame": "ty", "name": "x"}, "a"]}, "needs numbers"),
    ({"op": "sqrt", "args": [{"op": "col", "frame": "ty", "name": "s"}]}, "needs numeric columns"),
])
def test_type_errors_are_refused_with_invalid_parameter(node, expr, needle):
    make_frame(node, pd.DataFrame({"x": [1.0], "c": pd.Categorical(["a"]), "s": pd.Series(["q"], dtype=object)}),
               "ty", 1)
    with pytest.raises(InvalidParameter) as e:
        evaluate(node, expr)
    assert needle in e.value.message


def test_frames_of_different_lengths_are_refused(node):
    make_frame(node, pd.DataFrame({"x": [1.0, 2.0]}), "l2", 1)
    make_frame(node, pd.DataFrame({"x": [1.0, 2.0, 3.0]}), "l3", 1)
    with pytest.raises(InvalidParameter, match="do not share a row layout"):
        evaluate(node, {"op": "+", "args": [fr("l2"), fr("l3")]})


def test_frames_with_the_same_rows_in_another_layout_combine_after_relayout(node):
    make_frame(node, pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0]}), "la", 2)
    make_frame(node, pd.DataFrame({"y": [10.0, 20.0, 30.0, 40.0, 50.0]}), "lb", 3)
    evaluate(node, {"op": "cbind", "args": [fr("la"), fr("lb")]}, "lab")
    out = to_pandas(node, "lab")
    assert out["y"].tolist() == [10.0, 20.0, 30.0, 40.0, 50.0]
    assert node.catalog.get("lab").starts.tolist() == [0, 2, 4, 5]

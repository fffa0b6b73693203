"""Dates (UTC), text functions and type conversions against pandas."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal_server.errors import InvalidParameter
from shoal_server.munging import evaluate
from shoal_server.parser import frame_from_columns

from munging_helpers import col, fr, make_frame, to_pandas
from munging_strategies import CHUNK_ROWS, frames

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

MS = st.one_of(st.none(), st.integers(-5_000_000_000_000, 5_000_000_000_000))


@SETTINGS
@given(ms=st.lists(MS, max_size=20), rows=CHUNK_ROWS)
def test_date_parts_match_pandas_utc(node, ms, rows):
    data = np.array([0 if v is None else v for v in ms], np.int64)
    na = np.array([v is None for v in ms], bool)
    node.catalog.remove("dt")
    frame_from_columns(node, [{"name": "t", "type": "time", "data": data, "na": na}], "dt", chunk_rows=rows)
    ts = pd.to_datetime(pd.Series(data), unit="ms", utc=True)
    iso = ts.dt.isocalendar()
    want = {"year": ts.dt.year, "month": ts.dt.month, "day": ts.dt.day, "hour": ts.dt.hour,
            "minute": ts.dt.minute, "second": ts.dt.second, "week": iso["week"]}
    for part, w in want.items():
        r = evaluate(node, {"op": part, "args": [col("dt", "t")]}, "dt_out")
        assert r["frame"]["types"] == ["int"]
        got = to_pandas(node, "dt_out")["t"].to_numpy()
        expected = np.where(na, np.nan, w.to_numpy(dtype=float))
        np.testing.assert_array_equal(got, expected, err_msg=part)
    evaluate(node, {"op": "dayOfWeek", "args": [col("dt", "t")]}, "dt_out")
    names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert to_pandas(node, "dt_out")["t"].tolist() == [None if m else names[d] for m, d in
                                                       zip(na, ts.dt.day_of_week)]


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS)
def test_text_functions_match_python(node, df, rows):
    df = df.assign(s=pd.Series([None if v is None else f" {v}Ab " for v in df["s"].tolist()], dtype=object))
    make_frame(node, df, "tx", rows)
    s = df["s"].tolist()
    for op, f in (("tolower", str.lower), ("toupper", str.upper), ("trim", str.strip)):
        evaluate(node, {"op": op, "args": [col("tx", "s")]}, "tx_out")
        assert to_pandas(node, "tx_out")["s"].tolist() == [None if v is None else f(v) for v in s], op
    evaluate(node, {"op": "substring", "args": [col("tx", "s")], "start": 1, "end": 3}, "tx_out")
    assert to_pandas(node, "tx_out")["s"].tolist() == [None if v is None else v[1:3] for v in s]
    evaluate(node, {"op": "nchar", "args": [col("tx", "s")]}, "tx_out")
    np.testing.assert_array_equal(to_pandas(node, "tx_out")["s"].to_numpy(),
                                  [np.nan if v is None else float(len(v)) for v in s])
    # a filtered string result keeps the right rows
    evaluate(node, {"op": "rows", "args": [{"op": "toupper", "args": [col("tx", "s")]},
                                           {"op": ">", "args": [col("tx", "x"), 0]}]}, "tx_f")
    keep = (df["x"] > 0).to_numpy()
    assert to_pandas(node, "tx_f")["s"].tolist() == [None if v is None else v.upper()
                                                     for v, k in zip(s, keep) if k]


def test_type_conversions(node):
    df = pd.DataFrame({"k": pd.array([3, 1, None, 10, 1], dtype="Int64"),
                       "s": pd.Series(["b", "a", None, "b", "1.5"], dtype=object),
                       "c": pd.Categorical(["x", None, "y", "x", "y"]),
                       "r": [1.5, -2.0, np.nan, 0.0, 1.5]})
    make_frame(node, df, "ty", 2)
    r = evaluate(node, {"op": "asfactor", "args": [fr("ty")]}, "ty_f")
    assert r["frame"]["types"] == ["enum"] * 4
    assert r["frame"]["domains"][0] == ["1", "10", "3"] and r["frame"]["domains"][3] == ["-2.0", "0.0", "1.5"]
    out = to_pandas(node, "ty_f")
    assert out["k"].tolist() == ["3", "1", None, "10", "1"]
    assert out["s"].tolist() == ["b", "a", None, "b", "1.5"]
    assert out["r"].tolist() == ["1.5", "-2.0", None, "0.0", "1.5"]
    assert evaluate(node, {"op": "==", "args": [col("ty_f", "k"), "10"]}, "ty_eq")["frame"]["types"] == ["bool"]
    np.testing.assert_array_equal(to_pandas(node, "ty_eq")["k"].to_numpy(), [0.0, 0.0, np.nan, 1.0, 0.0])
    evaluate(node, {"op": "asnumeric", "args": [{"op": "cols", "args": [fr("ty")], "select": ["s", "c"]}]}, "ty_n")
    out = to_pandas(node, "ty_n")
    np.testing.assert_array_equal(out["s"].to_numpy(), [np.nan, np.nan, np.nan, np.nan, 1.5])
    np.testing.assert_array_equal(out["c"].to_numpy(), [0.0, np.nan, 1.0, 0.0, 1.0])
    evaluate(node, {"op": "ascharacter", "args": [{"op": "cols", "args": [fr("ty")], "select": ["k", "c"]}]}, "ty_c")
    out = to_pandas(node, "ty_c")
    assert out["k"].tolist() == ["3", "1", None, "10", "1"] and out["c"].tolist() == ["x", None, "y", "x", "y"]
    assert evaluate(node, {"op": "levels", "args": [col("ty", "c")]})["values"] == ["x", "y"]
    assert evaluate(node, {"op": "nlevels", "args": [col("ty", "c")]})["value"] == 2


def test_cut_matches_pandas(node):
    x = np.array([0.0, 0.5, 1.0, 2.0, 3.0, np.nan, -1.0, 2.5])
    make_frame(node, pd.DataFrame({"x": x}), "ct", 3)
    for right, lowest in ((True, False), (True, True), (False, False)):
        r = evaluate(node, {"op": "cut", "args": [fr("ct")], "breaks": [0, 1, 2, 3], "right": right,
                            "include_lowest": lowest}, "ct_out")
        want = pd.cut(x, [0, 1, 2, 3], right=right, include_lowest=lowest).codes  # -1 = missing
        labels = (["[0,1]" if lowest else "(0,1]", "(1,2]", "(2,3]"] if right else ["[0,1)", "[1,2)", "[2,3)"])
        got = to_pandas(node, "ct_out")["x"].tolist()
        assert got == [None if c < 0 else labels[c] for c in want], (right, lowest)
        assert len(r["frame"]["domains"][0]) == 3
    with pytest.raises(InvalidParameter, match="increasing"):
        evaluate(node, {"op": "cut", "args": [fr("ct")], "breaks": [2, 1]})


def test_scale_centers_and_scales_with_sample_sd(node):
    x = np.array([1.0, 2.0, np.nan, 4.0])
    make_frame(node, pd.DataFrame({"x": x}), "sc", 2)
    evaluate(node, {"op": "scale", "args": [fr("sc")]}, "sc_out")
    got = to_pandas(node, "sc_out")["x"].to_numpy()
    p = x[~np.isnan(x)]
    np.testing.assert_allclose(got, (x - p.mean()) / p.std(ddof=1))


def test_as_date_parses_iso_and_formats_from_strings_and_enums(node):
    df = pd.DataFrame({"s": pd.Series(["2024-05-01", "2024-05-01T13:45:30", None, "not a date"], dtype=object),
                       "e": pd.Categorical(["01/02/2020", "31/12/1999", None, "01/02/2020"]),
                       "s2": pd.Series(["01/02/2020 10:00", "x", "31/12/1999 23:59", None], dtype=object)})
    make_frame(node, df, "ad", 2)
    r = evaluate(node, {"op": "as_date", "args": [col("ad", "s")]}, "ad1")
    assert r["frame"]["types"] == ["time"]
    want = pd.to_datetime(pd.Series(["2024-05-01", "2024-05-01T13:45:30"]), utc=True, format="ISO8601")
    want = want.dt.as_unit("ms").astype("int64")
    got = to_pandas(node, "ad1")["s"].to_numpy()
    np.testing.assert_array_equal(got[:2], want.to_numpy(dtype=float))
    assert np.isnan(got[2:]).all()
    evaluate(node, {"op": "as_date", "args": [col("ad", "e")], "format": "%d/%m/%Y"}, "ad2")
    want = pd.to_datetime(pd.Series(["2020-02-01", "1999-12-31", None, "2020-02-01"]), utc=True)
    np.testing.assert_array_equal(to_pandas(node, "ad2")["e"].to_numpy(),
                                  [float(v.value // 10 ** 6) if not pd.isna(v) else np.nan for v in want])
    evaluate(node, {"op": "year", "args": [{"op": "as_date", "args": [col("ad", "s2")], "format": "%d/%m/%Y %H:%M"}]},
             "ad3")
    np.testing.assert_array_equal(to_pandas(node, "ad3")["s2"].to_numpy(), [2020.0, np.nan, 1999.0, np.nan])

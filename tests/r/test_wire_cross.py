"""SHOALCOL across languages, without a server: R's writer ↔ Python's reader and back.

The format is written twice (``shoal.wire`` in Python, ``rclient/R/wire.R`` in base R); these tests
hold the two to the same bytes-level contract.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shoal import convert, wire

from .canon import canon_df, from_r

pytestmark = pytest.mark.r

MIXED_R = (
    "data.frame(i = c(1L, NA, -3L, 2147483647L, 0L), r = c(1.5, NA, -2.25, 1e300, -0), "
    "f = factor(c('b', 'a', NA, 'c', 'a'), levels = c('c', 'a', 'b')), "
    "s = c('x', NA, '', 'h\\u00e9llo \\u2603', 'comma, \"quote\"'), "
    "b = c(TRUE, FALSE, NA, TRUE, FALSE), "
    "t = as.POSIXct(c('2020-01-01 00:00:00', NA, '1969-12-31 23:59:59', '2038-01-19 03:14:08', "
    "'2000-02-29 12:00:00.5'), tz = 'UTC'), stringsAsFactors = FALSE)"
)


def r_bytes(r, expr: str) -> bytes:
    return bytes(r(f"shoalcol_write({expr})"))


def test_python_decodes_what_r_writes(r):
    buf = r_bytes(r, MIXED_R)
    nrow, cols = wire.decode(buf)
    assert nrow == 5
    by = {c["name"]: c for c in cols}
    assert [c["type"] for c in cols] == ["int", "real", "enum", "string", "bool", "time"]
    assert by["i"]["data"].tolist() == [1, wire.INT32_NA, -3, 2147483647, 0]
    r_ = by["r"]["data"]
    assert r_.view("<u8")[1] == wire.R_NA_REAL_BITS
    assert r_[[0, 2, 3]].tolist() == [1.5, -2.25, 1e300] and np.signbit(r_[4])
    assert by["f"]["domain"] == ["c", "a", "b"]
    assert by["f"]["data"].tolist() == [2, 1, -1, 0, 1]
    assert wire.strings_to_object(by["s"]).tolist() == ["x", None, "", "h\u00e9llo \u2603", 'comma, "quote"']
    assert by["b"]["data"].tolist() == [1, 0, wire.INT32_NA, 1, 0]
    t = by["t"]["data"]
    assert np.isnan(t[1])
    assert t[[0, 2, 3, 4]].tolist() == [1577836800000.0, -1000.0, 2147483648000.0, 951825600500.0]
    # and pandas sees the same values R had
    assert canon_df(convert.to_pandas_frame(buf)) == from_r(r(f"canon_df({MIXED_R})")[0])


def test_r_reads_what_python_writes(r):
    df = pd.DataFrame({
        "i": pd.array([1, None, -3], dtype="Int64"),
        "big": np.array([1, 2, 2**40], dtype=np.int64),       # does not fit int32: f8 on the wire
        "r": [0.1, np.nan, -np.inf],
        "f": pd.Categorical(["u", None, "v"]),
        "s": ["a", None, "\u00e9\u00e9"],
        "b": pd.array([True, None, False], dtype="boolean"),
        "t": pd.to_datetime(["2021-03-04 05:06:07.008", None, "1900-01-01"], format="ISO8601"),
    })
    nrow, cols = convert.pandas_to_columns(df)
    buf = wire.encode_columns(cols, nrow)
    from rpy2.robjects.vectors import ByteVector

    r.assign("py_body", ByteVector(buf))
    got = from_r(r("canon_df(shoalcol_read(py_body))")[0])
    assert got == canon_df(df)
    assert list(r("vapply(shoalcol_read(py_body), function(x) class(x)[1], '')")) == \
        ["integer", "numeric", "numeric", "factor", "character", "logical", "POSIXct"]
    assert r("is.na(shoalcol_read(py_body)$r[2]) && !is.nan(shoalcol_read(py_body)$r[2])")[0]

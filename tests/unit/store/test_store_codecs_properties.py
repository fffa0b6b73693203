"""Hypothesis: encode -> decode is lossless for arbitrary int64 / float64 values with missing rows."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shoal_server.store import codecs

SIZES = st.integers(0, 300)


@st.composite
def int_columns(draw):
    n = draw(SIZES)
    style = draw(st.sampled_from(["any", "narrow", "sparse", "binary"]))
    if style == "any":
        vals = draw(hnp.arrays(np.int64, n))
    elif style == "narrow":
        base = draw(st.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max - 70000))
        vals = base + draw(hnp.arrays(np.int64, n, elements=st.integers(0, 70000)))
    elif style == "sparse":
        vals = draw(hnp.arrays(np.int64, n, elements=st.sampled_from([0, 0, 0, 0, 0, 0, 0, 0, 0, 7, -2**63])))
    else:
        vals = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 1)))
    na = draw(hnp.arrays(np.bool_, n, elements=st.booleans() | st.just(False)))
    return vals, na


@st.composite
def real_columns(draw):
    n = draw(SIZES)
    style = draw(st.sampled_from(["any", "decimal", "integral", "f32", "sparse"]))
    if style == "any":
        vals = draw(hnp.arrays(np.float64, n, elements=st.floats(allow_nan=True, allow_infinity=True)))
    elif style == "decimal":
        q = draw(hnp.arrays(np.int64, n, elements=st.integers(-10**6, 10**6)))
        vals = q / 10.0 ** draw(st.integers(1, 6))
    elif style == "integral":
        vals = draw(hnp.arrays(np.int64, n, elements=st.integers(-2**53, 2**53))).astype(np.float64)
    elif style == "f32":
        vals = draw(hnp.arrays(np.float32, n, elements=st.floats(width=32))).astype(np.float64)
    else:
        vals = draw(hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 0.0, 0.0, 0.0, -0.0, 1.25, np.nan])))
    na = draw(hnp.arrays(np.bool_, n, elements=st.booleans() | st.just(False)))
    return vals, na


@settings(max_examples=150, deadline=None)
@given(int_columns(), st.sampled_from(["int", "time"]))
def test_int_encode_decode_is_lossless(col, coltype):
    vals, na = col
    chunk = codecs.encode(coltype, vals, na)
    got, got_na = codecs.decode_int64(chunk)
    np.testing.assert_array_equal(got_na, na)
    np.testing.assert_array_equal(got[~na], vals[~na])


@settings(max_examples=150, deadline=None)
@given(real_columns())
def test_real_encode_decode_is_bit_exact(col):
    vals, na = col
    chunk = codecs.encode("real", vals, na)
    got = codecs.decode_float64(chunk)
    missing = na | np.isnan(vals)
    np.testing.assert_array_equal(np.isnan(got), missing)
    np.testing.assert_array_equal(got[~missing].view(np.int64), vals[~missing].view(np.int64))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.int32, SIZES, elements=st.integers(-1, 400)))
def test_enum_codes_round_trip(codes):
    chunk = codecs.encode("enum", codes)
    np.testing.assert_array_equal(codecs.decode_codes(chunk), codes)

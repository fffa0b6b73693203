"""Hypothesis strategies: small frames with missing values, categoricals and strings."""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import strategies as st

FLOATS = st.one_of(st.none(), st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, -3.25, 7.0, 0.1, 1e6, -2.0]))
INTS = st.one_of(st.none(), st.integers(-5, 5))
LEVELS = ["a", "b", "c", "dd"]
CHUNK_ROWS = st.sampled_from([1, 2, 3, 5, 1000])


@st.composite
def frames(draw, min_rows=0, max_rows=25):
    n = draw(st.integers(min_rows, max_rows))
    x = draw(st.lists(FLOATS, min_size=n, max_size=n))
    y = draw(st.lists(FLOATS, min_size=n, max_size=n))
    k = draw(st.lists(INTS, min_size=n, max_size=n))
    c = draw(st.lists(st.one_of(st.none(), st.sampled_from(LEVELS)), min_size=n, max_size=n))
    s = draw(st.lists(st.one_of(st.none(), st.sampled_from(["", "x", "yy", "a", "é"])), min_size=n, max_size=n))
    df = pd.DataFrame({
        "x": pd.Series([np.nan if v is None else v for v in x], dtype=float),
        "y": pd.Series([np.nan if v is None else v for v in y], dtype=float),
        "k": pd.array(k, dtype="Int64"),
        "c": pd.Categorical(c, categories=LEVELS[:3] + ["dd"]),
        "s": pd.Series(s, dtype=object),
    })
    return df

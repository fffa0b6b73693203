"""Properties over random data: any chunking gives the arrays' bits; edge cases stay plain JSON."""
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal_server.metrics import (binomial_metrics, binomial_metrics_from_arrays, multinomial_metrics,
                                  multinomial_metrics_from_arrays, regression_metrics, regression_metrics_from_arrays)

from metrics_helpers import make_frame

_SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def scored(draw):
    n = draw(st.integers(1, 60))
    seed = draw(st.integers(0, 2 ** 31))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=6)))
    sizes = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    rng = np.random.default_rng(seed)
    coarse = draw(st.booleans())  # few distinct scores: many ties
    p = rng.integers(0, 5, n) / 4 if coarse else rng.random(n)
    y = (rng.random(n) < 0.3 + 0.4 * p).astype(float)
    y[rng.random(n) < 0.1] = np.nan
    w = rng.integers(0, 3, n).astype(float) if draw(st.booleans()) else rng.random(n) * 2
    return y, p, w, sizes, rng


@_SETTINGS
@given(data=scored())
def test_any_chunking_gives_the_bits_of_the_arrays(node, data):
    y, p, w, sizes, rng = data
    key = f"k{rng.integers(1 << 40)}"
    K = 3
    a = np.where(np.isnan(y), -1, np.nan_to_num(y) + (p > 0.5)).astype(np.int32)
    P = rng.dirichlet(np.ones(K), y.size)
    make_frame(node, key, {"y": y, "p": p, "w": w, "a": ("enum", a, ["u", "v", "x"]),
                           "p0": P[:, 0], "p1": P[:, 1], "p2": P[:, 2]}, sizes)
    want = binomial_metrics_from_arrays(y, p, w)
    assert binomial_metrics(node, key, "y", "p", "w") == want
    assert regression_metrics(node, key, "y", "p", "w", distribution="huber") == \
        regression_metrics_from_arrays(y, p, w, distribution="huber")
    aa = np.where(a < 0, np.nan, a)
    assert multinomial_metrics(node, key, "a", ["p0", "p1", "p2"], "w") == \
        multinomial_metrics_from_arrays(aa, P, w, domain=["u", "v", "x"])
    json.dumps(want, allow_nan=False)


@pytest.mark.parametrize("case", [
    ([1.0], [0.5], None),                 # one row, one class
    ([0.0, 1.0], [0.5, 0.5], None),       # one threshold
    ([0.0, 1.0], [0.0, 1.0], None),       # probabilities at the clip limits
    ([0.0, 1.0, 1.0], [0.2, 0.7, 0.9], [0.0, 0.0, 0.0]),  # every weight zero
    ([np.nan, np.nan], [0.1, 0.2], None),  # no actuals
])
def test_edge_cases_are_plain_json(case):
    y, p, w = case
    for auc_type in ("exact", "binned"):
        json.dumps(binomial_metrics_from_arrays(y, p, w, auc_type=auc_type), allow_nan=False)
    json.dumps(regression_metrics_from_arrays(y, p, w, distribution="gamma"), allow_nan=False)
    P = np.column_stack([1 - np.asarray(p), p])
    json.dumps(multinomial_metrics_from_arrays(y, P, w), allow_nan=False)

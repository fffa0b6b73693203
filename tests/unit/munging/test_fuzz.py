"""Random expression trees (known and unknown ops, wrong arities, odd parameters) either evaluate or
fail with a catalogued user error: never an internal error, never a leftover temporary."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal_server.errors import InternalError, ShoalError
from shoal_server.munging import evaluate
from shoal_server.munging.expr import OPS

from munging_helpers import make_frame

NAMES = ["x", "k", "c", "s", "t", "nope", 0, -1, 7]
LEAF = st.one_of(
    st.just({"op": "frame", "key": "fz"}),
    st.builds(lambda n: {"op": "col", "frame": "fz", "name" if isinstance(n, str) else "index": n},
              st.sampled_from(NAMES)),
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.5, -1.5, 1e300]),
    st.sampled_from(["a", "", "JFK"]),
)
PARAM_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2, 5), st.sampled_from([0.5, 0.3, 1.5]),
                         st.sampled_from(["x", "c", "k", "a", "rm", "first", "forward", "interpolate", "mean"]),
                         st.lists(st.sampled_from(["x", "c", "k", 0, 1, 0.5, 0.2, True]), max_size=3),
                         st.fixed_dictionaries({"agg": st.sampled_from(["mean", "nrow", "median", "zz"]),
                                                "col": st.sampled_from(["x", "c", "k"])}).map(lambda d: [d]),
                         st.fixed_dictionaries({"start": st.integers(-3, 3), "stop": st.integers(-3, 9)}))


def _node(children):
    def for_op(op):
        spec = OPS.get(op)
        lo, hi = (spec.min_args, min(spec.max_args if spec.max_args is not None else 3, 3)) if spec else (0, 2)
        names = spec.params if spec else ("x",)
        params = st.fixed_dictionaries({}, optional={name: PARAM_VALUES for name in names})
        return st.builds(lambda args, ps: {"op": op, "args": args, **{k: v for k, v in ps.items() if v is not None}},
                         st.lists(children, min_size=lo, max_size=max(lo, hi)), params)
    return st.sampled_from(sorted(OPS) + ["eval", "+", "=="]).flatmap(for_op)


EXPRS = st.recursive(LEAF, _node, max_leaves=8)


@pytest.fixture(scope="module")
def fz(node):
    df = pd.DataFrame({"x": [1.5, np.nan, -2.0, 0.0, 3.0], "k": pd.array([1, None, 3, 3, -1], dtype="Int64"),
                       "c": pd.Categorical(["a", "b", None, "a", "JFK"]),
                       "s": pd.Series(["p", None, "q", "", "p"], dtype=object)})
    make_frame(node, df, "fz", 2)
    return node


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(expr=EXPRS)
def test_random_expressions_never_fail_internally(fz, expr):
    node = fz
    try:
        evaluate(node, expr, "fz_out")
    except ShoalError as e:
        assert type(e) is not InternalError, f"{type(e).__name__}: {e.message}"
    assert not [k for k in node.catalog.keys() if k.startswith("tmp_expr")]
    assert not [k for k in node.chunks.frame_keys() if k.startswith("tmp_expr") or "staging" in k]

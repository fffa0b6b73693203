"""Column and row selection, cbind/rbind, assignment (sharing unchanged chunks), all-or-nothing."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal_server.config import NodeConfig
from shoal_server.errors import ColumnNotFound, InvalidParameter, MemoryExceeded
from shoal_server.munging import evaluate
from shoal_server.node import Node

from munging_helpers import col, fr, make_frame, to_pandas
from munging_strategies import CHUNK_ROWS, frames

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _eq(got: pd.DataFrame, want: pd.DataFrame):
    """Frames equal as our to_pandas sees them (numbers as float64, text as object)."""
    assert list(got.columns) == list(want.columns)
    for c in want.columns:
        w = want[c]
        g = got[c]
        if w.dtype == object or isinstance(w.dtype, pd.CategoricalDtype):
            assert g.tolist() == [None if pd.isna(v) else v for v in w.astype(object)]
        else:
            np.testing.assert_array_equal(g.to_numpy(dtype=float), w.astype("Float64").to_numpy(float, na_value=np.nan))


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS)
def test_boolean_mask_filter_matches_pandas_and_drops_missing(node, df, rows):
    make_frame(node, df, "sl", rows)
    mask = {"op": "|", "args": [{"op": ">", "args": [col("sl", "x"), 0]}, {"op": "==", "args": [col("sl", "c"), "b"]}]}
    r = evaluate(node, {"op": "rows", "args": [fr("sl"), mask]}, "sl_out")
    m = ((pd.Series(df["x"], dtype="Float64") > 0) | (df["c"].astype(object) == "b")).fillna(False).astype(bool)
    want = df[m.to_numpy()].reset_index(drop=True)
    _eq(to_pandas(node, "sl_out"), want)
    h = node.catalog.get("sl_out")
    assert r["frame"]["nrow"] == len(want) and h.nchunks == node.catalog.get("sl").nchunks


@SETTINGS
@given(df=frames(min_rows=1), rows=CHUNK_ROWS, data=st.data())
def test_row_index_lists_and_slices_match_iloc(node, df, rows, data):
    make_frame(node, df, "sl", rows)
    n = len(df)
    idx = data.draw(st.lists(st.integers(-n, n - 1), max_size=12))
    evaluate(node, {"op": "rows", "args": [fr("sl")], "select": idx}, "sl_idx")
    _eq(to_pandas(node, "sl_idx"), df.iloc[idx].reset_index(drop=True))
    start = data.draw(st.one_of(st.none(), st.integers(-n - 2, n + 2)))
    stop = data.draw(st.one_of(st.none(), st.integers(-n - 2, n + 2)))
    step = data.draw(st.sampled_from([None, 1, 2, 3, -1, -2]))
    evaluate(node, {"op": "rows", "args": [fr("sl")], "select": {"start": start, "stop": stop, "step": step}}, "sl_sl")
    _eq(to_pandas(node, "sl_sl"), df.iloc[start:stop:step].reset_index(drop=True))


def test_head_tail_and_out_of_range_rows(node):
    df = pd.DataFrame({"a": np.arange(10.0)})
    make_frame(node, df, "ht", 3)
    evaluate(node, {"op": "head", "args": [fr("ht")], "n": 4}, "h4")
    assert to_pandas(node, "h4")["a"].tolist() == [0.0, 1.0, 2.0, 3.0]
    evaluate(node, {"op": "tail", "args": [fr("ht")], "n": 3}, "t3")
    assert to_pandas(node, "t3")["a"].tolist() == [7.0, 8.0, 9.0]
    with pytest.raises(InvalidParameter, match="outside a frame of 10 rows"):
        evaluate(node, {"op": "rows", "args": [fr("ht")], "select": [10]})


def test_column_selection_by_name_index_list_slice_and_drop(node):
    df = pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0], "d": [4.0]})
    make_frame(node, df, "cs", 1)
    assert evaluate(node, {"op": "cols", "args": [fr("cs")], "select": ["d", 0, -2]}, "o")["frame"]["names"] == \
        ["d", "a", "c"]
    assert evaluate(node, {"op": "cols", "args": [fr("cs")], "select": {"start": 1, "step": 2}}, "o")["frame"][
        "names"] == ["b", "d"]
    assert evaluate(node, {"op": "drop", "args": [fr("cs")], "names": ["b", "c"]}, "o")["frame"]["names"] == ["a", "d"]
    assert evaluate(node, {"op": "rename", "args": [fr("cs")], "names": {"a": "z"}}, "o")["frame"]["names"] == \
        ["z", "b", "c", "d"]
    with pytest.raises(ColumnNotFound, match="Column `nope` is not in frame `cs`"):
        evaluate(node, {"op": "col", "frame": "cs", "name": "nope"})


def test_unchanged_columns_share_chunks_by_reference(node):
    df = pd.DataFrame({"a": np.arange(6.0), "b": np.arange(6.0) * 2})
    make_frame(node, df, "sh", 2)
    evaluate(node, {"op": "assign", "args": [fr("sh"), {"op": "+", "args": [col("sh", "a"), col("sh", "b")]}],
                    "name": "c"}, "sh2")
    for i in range(3):
        assert node.chunks.get("sh2", 0, i) is node.chunks.get("sh", 0, i)
        assert node.chunks.get("sh2", 1, i) is node.chunks.get("sh", 1, i)
    assert to_pandas(node, "sh2")["c"].tolist() == [0.0, 3.0, 6.0, 9.0, 12.0, 15.0]


def test_assign_replaces_a_column_in_place_under_the_same_key(node):
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1.0, np.nan, 3.0]})
    make_frame(node, df, "ip", 2)
    r = evaluate(node, {"op": "assign", "args": [fr("ip"), {"op": "*", "args": [col("ip", "b"), 10]}],
                        "name": "b"}, "ip")
    assert r["frame"]["names"] == ["a", "b"]
    out = to_pandas(node, "ip")
    assert out["a"].tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(out["b"].to_numpy(), [10.0, np.nan, 30.0])
    assert not [k for k in node.chunks.frame_keys() if "staging" in k or k.startswith("tmp_expr")]


def test_masked_assignment_is_assign_of_ifelse(node):
    df = pd.DataFrame({"a": [1.0, 5.0, np.nan, 7.0]})
    make_frame(node, df, "ma", 3)
    mask = {"op": ">", "args": [col("ma", "a"), 4]}
    evaluate(node, {"op": "assign", "args": [fr("ma"), {"op": "ifelse", "args": [mask, 0, col("ma", "a")]}],
                    "name": "a"}, "ma2")
    np.testing.assert_array_equal(to_pandas(node, "ma2")["a"].to_numpy(), [1.0, 0.0, np.nan, 0.0])


def test_assign_a_scalar_and_a_string(node):
    make_frame(node, pd.DataFrame({"a": [1.0, 2.0]}), "as", 1)
    evaluate(node, {"op": "assign", "args": [fr("as"), 7], "name": "k"}, "as2")
    r = evaluate(node, {"op": "assign", "args": [fr("as2"), "x"], "name": "t"}, "as3")
    assert r["frame"]["types"] == ["real", "int", "enum"]
    out = to_pandas(node, "as3")
    assert out["k"].tolist() == [7.0, 7.0] and out["t"].tolist() == ["x", "x"]


@SETTINGS
@given(a=frames(), b=frames(), ra=CHUNK_ROWS, rb=CHUNK_ROWS)
def test_rbind_matches_concat_and_unifies_enum_domains(node, a, b, ra, rb):
    b = b.assign(c=pd.Categorical(b["c"].astype(object).replace({"a": "zz"}).tolist()))
    make_frame(node, a, "ra", ra)
    make_frame(node, b, "rb", rb)
    evaluate(node, {"op": "rbind", "args": [fr("ra"), fr("rb")]}, "rab")
    want = pd.concat([a.astype({"c": object}), b.astype({"c": object})], ignore_index=True)
    _eq(to_pandas(node, "rab"), want)


def test_cbind_dedupes_names(node):
    make_frame(node, pd.DataFrame({"a": [1.0, 2.0]}), "cb", 1)
    r = evaluate(node, {"op": "cbind", "args": [fr("cb"), fr("cb"), {"op": "*", "args": [fr("cb"), 2]}]}, "cb2")
    assert r["frame"]["names"] == ["a", "a_2", "a_3"]
    assert to_pandas(node, "cb2")["a_3"].tolist() == [2.0, 4.0]


def test_a_failed_evaluation_leaves_no_frame_and_no_staging_chunks():
    with Node(NodeConfig(threads=2, memory_budget=60_000)) as small:
        df = pd.DataFrame({"a": np.random.default_rng(1).normal(size=3000)})
        make_frame(small, df, "big", 500)  # ~24 kB
        with pytest.raises(MemoryExceeded):
            # two derived real columns need ~48 kB more: over budget part-way through the chunks
            evaluate(small, {"op": "cbind", "args": [{"op": "*", "args": [fr("big"), 1.5]},
                                                     {"op": "+", "args": [fr("big"), 0.25]}]}, "out")
        assert "out" not in small.catalog and small.catalog.keys() == ["big"]
        assert small.chunks.frame_keys() == ["big"]
        assert small.chunks.bytes_used == small.chunks.frame_bytes("big")


def test_temporaries_are_dropped_after_evaluation(node):
    make_frame(node, pd.DataFrame({"a": [3.0, 1.0, 2.0]}), "tm", 1)
    inner = {"op": "rows", "args": [fr("tm"), {"op": ">", "args": [col("tm", "a"), 1]}]}
    evaluate(node, {"op": "sort", "args": [inner], "by": ["a"]}, "tm2")
    assert to_pandas(node, "tm2")["a"].tolist() == [2.0, 3.0]
    assert not [k for k in node.catalog.keys() if k.startswith("tmp_expr")]
    assert not [k for k in node.chunks.frame_keys() if k.startswith("tmp_expr") or "staging" in k]


class _CancelAfter:
    """A job whose check() raises after ``n`` calls (a cancel arriving mid-evaluation)."""

    def __init__(self, n):
        self.n = n

    def update(self, progress=None, message=None):
        pass

    def check(self):
        from shoal_server.errors import JobCancelled
        self.n -= 1
        if self.n < 0:
            raise JobCancelled("cancelled by test")


@pytest.mark.parametrize("calls", [0, 1, 3, 6])
def test_a_cancelled_evaluation_leaves_nothing_behind(node, calls):
    from shoal_server.errors import JobCancelled
    make_frame(node, pd.DataFrame({"a": np.arange(40.0), "g": pd.Categorical(list("ab") * 20)}), "cx", 3)
    before = set(node.chunks.frame_keys())
    expr = {"op": "sort", "args": [{"op": "rows", "args": [fr("cx"), {"op": ">", "args": [col("cx", "a"), 3]}]}],
            "by": ["g", "a"]}
    try:
        evaluate(node, expr, "cx_out", job=_CancelAfter(calls))
    except JobCancelled:
        assert "cx_out" not in node.catalog
    assert set(node.chunks.frame_keys()) - before <= {"cx_out"}
    assert not [k for k in node.catalog.keys() if k.startswith("tmp_expr")]

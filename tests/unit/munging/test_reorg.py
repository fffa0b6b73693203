"""quantile, sort, merge, split_frame, kfold_column, drop_duplicates, fillna, impute."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal_server.errors import InvalidParameter
from shoal_server.munging import evaluate
from shoal_server.munging.reorg import DEFAULT_PROBS, quantiles

from munging_helpers import fr, make_frame, to_pandas
from munging_strategies import CHUNK_ROWS, frames

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS, probs=st.lists(st.floats(0, 1), min_size=1, max_size=6))
def test_quantile_interpolate_equals_numpy_linear(node, df, rows, probs):
    make_frame(node, df, "qu", rows)
    r = evaluate(node, {"op": "quantile", "args": [{"op": "cols", "args": [fr("qu")], "select": ["x", "k"]}],
                        "probs": probs}, "qu_out")
    assert r["frame"]["names"] == ["Probs", "xQuantiles", "kQuantiles"]
    out = to_pandas(node, "qu_out")
    for c in ("x", "k"):
        v = df[c].astype("Float64").to_numpy(float, na_value=np.nan)
        v = v[~np.isnan(v)]
        want = np.quantile(v, probs, method="linear") if len(v) else np.full(len(probs), np.nan)
        np.testing.assert_allclose(out[f"{c}Quantiles"].to_numpy(), want, rtol=1e-12, atol=1e-12)


def test_quantile_default_probs_and_combine_methods(node):
    x = np.arange(10, dtype=float)  # positions p*(n-1) = p*9
    make_frame(node, pd.DataFrame({"x": x}), "qd", 3)
    evaluate(node, {"op": "quantile", "args": [fr("qd")]}, "qd1")
    out = to_pandas(node, "qd1")
    assert out["Probs"].tolist() == DEFAULT_PROBS
    np.testing.assert_allclose(out["xQuantiles"], np.quantile(x, DEFAULT_PROBS))
    for method, want in (("low", 2.0), ("high", 3.0), ("average", 2.5), ("interpolate", 2.25)):
        evaluate(node, {"op": "quantile", "args": [fr("qd")], "probs": [0.25], "combine_method": method}, "qd2")
        assert to_pandas(node, "qd2")["xQuantiles"].tolist() == [want], method
    with pytest.raises(InvalidParameter, match="combine_method"):
        evaluate(node, {"op": "quantile", "args": [fr("qd")], "combine_method": "nearest"})


def test_weighted_quantile_equals_repeating_rows():
    x = np.array([3.0, 1.0, 2.0, np.nan, 5.0])
    w = np.array([2.0, 1.0, 3.0, 1.0, 0.0])
    expanded = np.repeat(x[:3], w[:3].astype(int))
    probs = [0.0, 0.1, 0.3, 0.5, 0.77, 1.0]
    np.testing.assert_allclose(quantiles(x, probs, "interpolate", w), np.quantile(expanded, probs))


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS, by=st.sampled_from([["x"], ["c", "y"], ["k", "x"], ["s"]]), data=st.data())
def test_sort_matches_pandas_stable_with_missing_last(node, df, rows, by, data):
    asc = data.draw(st.lists(st.booleans(), min_size=len(by), max_size=len(by)))
    make_frame(node, df, "so", rows)
    evaluate(node, {"op": "sort", "args": [fr("so")], "by": by, "ascending": asc}, "so_out")
    got = to_pandas(node, "so_out")
    keys = []
    for b, a in zip(by, asc):
        vals = df[b].astype(object).tolist()
        rank = [None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA
                else (v.encode() if isinstance(v, str) else v) for v in vals]
        keys.append((rank, a))
    order = list(range(len(df)))
    for rank, a in reversed(keys):  # stable multi-key sort: least significant key first
        present = [i for i in order if rank[i] is not None]
        missing = [i for i in order if rank[i] is None]
        present = sorted(present, key=lambda i: rank[i], reverse=not a) if a else \
            _stable_desc(present, rank)
        order = present + missing
    want = df.iloc[order].reset_index(drop=True)
    np.testing.assert_array_equal(got["x"].to_numpy(), want["x"].to_numpy())
    np.testing.assert_array_equal(got["y"].to_numpy(), want["y"].to_numpy())
    assert got["c"].tolist() == [None if pd.isna(v) else v for v in want["c"].astype(object)]


def _stable_desc(idx, rank):
    # descending but stable among equal keys (pandas' kind="stable" with ascending=False)
    groups = {}
    for i in idx:
        groups.setdefault(rank[i], []).append(i)
    return [i for k in sorted(groups, reverse=True) for i in groups[k]]


KEYS = st.lists(st.sampled_from(["a", "b", "c"]), max_size=12)


@SETTINGS
@given(lk=KEYS, rk=KEYS, how=st.sampled_from(["inner", "left", "right", "outer"]), rows=CHUNK_ROWS,
       as_string=st.booleans())
def test_merge_matches_pandas_up_to_row_order(node, lk, rk, how, rows, as_string):
    left = pd.DataFrame({"key": pd.Categorical(lk), "lv": np.arange(len(lk), dtype=float)})
    right = pd.DataFrame({"key": pd.Series(rk, dtype=object) if as_string else pd.Categorical(rk),
                          "rv": np.arange(len(rk), dtype=float) * 10})
    make_frame(node, left, "ml", rows)
    make_frame(node, right, "mr", rows)
    r = evaluate(node, {"op": "merge", "args": [fr("ml"), fr("mr")], "all_x": how in ("left", "outer"),
                        "all_y": how in ("right", "outer")}, "m_out")
    assert r["frame"]["names"] == ["key", "lv", "rv"]
    got = to_pandas(node, "m_out")
    want = pd.merge(left.astype({"key": object}), right.astype({"key": object}), on="key", how=how)
    norm = lambda d: sorted(zip(d["key"].astype(object).where(d["key"].notna(), None),  # noqa: E731
                                d["lv"].fillna(-1).tolist(), d["rv"].fillna(-1).tolist()),
                            key=lambda t: (str(t[0]), t[1], t[2]))
    assert norm(got) == norm(want)


def test_merge_on_named_numeric_keys_with_duplicates_and_missing_keys_never_match(node):
    x = pd.DataFrame({"id": [1.0, 2.0, 2.0, np.nan], "a": [10.0, 20.0, 21.0, 30.0]})
    y = pd.DataFrame({"ref": pd.array([2, 2, 3, None], dtype="Int64"), "b": [0.5, 0.6, 0.7, 0.8]})
    make_frame(node, x, "mx", 2)
    make_frame(node, y, "my", 3)
    evaluate(node, {"op": "merge", "args": [fr("mx"), fr("my")], "by_x": ["id"], "by_y": ["ref"], "all_x": True},
             "mxy")
    got = to_pandas(node, "mxy")
    rows = sorted(zip(got["id"].fillna(-1), got["a"], got["b"].fillna(-1)))
    assert rows == [(-1.0, 30.0, -1.0), (1.0, 10.0, -1.0), (2.0, 20.0, 0.5), (2.0, 20.0, 0.6), (2.0, 21.0, 0.5),
                    (2.0, 21.0, 0.6)]


def test_split_frame_partitions_rows_reproducibly(node):
    df = pd.DataFrame({"i": np.arange(2000, dtype=float)})
    make_frame(node, df, "sp", 300)
    r = evaluate(node, {"op": "split_frame", "args": [fr("sp")], "ratios": [0.7, 0.2], "seed": 42}, "spl")
    assert r["kind"] == "frames" and [f["key"] for f in r["frames"]] == ["spl_0", "spl_1", "spl_2"]
    parts = [to_pandas(node, f["key"])["i"].tolist() for f in r["frames"]]
    assert sorted(sum(parts, [])) == df["i"].tolist()
    assert abs(len(parts[0]) / 2000 - 0.7) < 0.05 and abs(len(parts[1]) / 2000 - 0.2) < 0.05
    r2 = evaluate(node, {"op": "split_frame", "args": [fr("sp")], "ratios": [0.7, 0.2], "seed": 42}, "spl")
    assert [to_pandas(node, f["key"])["i"].tolist() for f in r2["frames"]] == parts


def test_kfold_column_assigns_folds_in_range(node):
    make_frame(node, pd.DataFrame({"i": np.arange(600, dtype=float)}), "kf", 100)
    r = evaluate(node, {"op": "kfold_column", "args": [fr("kf")], "nfolds": 5, "seed": 3}, "kf2")
    assert r["frame"]["types"] == ["int"]
    folds = to_pandas(node, "kf2")["fold"].to_numpy()
    assert set(folds.tolist()) == {0.0, 1.0, 2.0, 3.0, 4.0} and min(np.bincount(folds.astype(int))) > 80


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS, keep=st.sampled_from(["first", "last"]))
def test_drop_duplicates_matches_pandas(node, df, rows, keep):
    make_frame(node, df, "dd", rows)
    evaluate(node, {"op": "drop_duplicates", "args": [fr("dd")], "by": ["c", "k"], "keep": keep}, "dd_out")
    want = df.astype({"c": object, "k": "Float64"}).drop_duplicates(subset=["c", "k"], keep=keep)
    got = to_pandas(node, "dd_out")
    np.testing.assert_array_equal(got["x"].to_numpy(), want["x"].to_numpy())


@SETTINGS
@given(df=frames(), rows=CHUNK_ROWS, method=st.sampled_from(["forward", "backward"]), maxlen=st.integers(1, 3))
def test_fillna_matches_pandas_limit(node, df, rows, method, maxlen):
    make_frame(node, df, "fn", rows)
    evaluate(node, {"op": "fillna", "args": [fr("fn")], "method": method, "maxlen": maxlen}, "fn_out")
    want = df["x"].ffill(limit=maxlen) if method == "forward" else df["x"].bfill(limit=maxlen)
    np.testing.assert_array_equal(to_pandas(node, "fn_out")["x"].to_numpy(), want.to_numpy())
    assert node.catalog.get("fn_out").starts.tolist() == node.catalog.get("fn").starts.tolist()


def test_impute_mean_median_mode_and_by_group(node):
    df = pd.DataFrame({"g": pd.Categorical(["a", "a", "b", "b", "b"]), "v": [1.0, np.nan, 2.0, 4.0, np.nan]})
    make_frame(node, df, "im", 2)
    evaluate(node, {"op": "impute", "args": [fr("im")], "column": "v", "method": "mean"}, "im1")
    assert to_pandas(node, "im1")["v"].tolist() == [1.0, 7 / 3, 2.0, 4.0, 7 / 3]
    evaluate(node, {"op": "impute", "args": [fr("im")], "column": "v", "method": "median", "by": ["g"]}, "im2")
    assert to_pandas(node, "im2")["v"].tolist() == [1.0, 1.0, 2.0, 4.0, 3.0]
    evaluate(node, {"op": "impute", "args": [fr("im")], "column": "v", "method": "mode"}, "im3")
    assert to_pandas(node, "im3")["v"].tolist() == [1.0, 1.0, 2.0, 4.0, 1.0]


def test_sort_writes_many_result_chunks_each_taking_its_rows(node, monkeypatch):
    import shoal_server.munging.frames as F
    monkeypatch.setattr(F, "OUTPUT_CHUNK_ROWS", 7)  # many result chunks, taken and encoded in the pool
    rng = np.random.default_rng(3)
    n = 200
    df = pd.DataFrame({"k": pd.array([None if v < 0 else int(v) for v in rng.integers(-2, 9, n)], dtype="Int64"),
                       "x": rng.normal(size=n),
                       "s": pd.Series([None if i % 9 == 0 else f"r{i}" for i in range(n)], dtype=object),
                       "c": pd.Categorical(rng.choice(["p", "q", None], n))})
    make_frame(node, df, "sm", 13)
    r = evaluate(node, {"op": "sort", "args": [fr("sm")], "by": ["k", "x"], "ascending": [False, True]}, "sm_out")
    assert r["frame"]["nchunks"] == -(-n // 7)
    got = to_pandas(node, "sm_out")
    want = df.sort_values(["k", "x"], ascending=[False, True], kind="stable", na_position="last")
    np.testing.assert_array_equal(got["x"].to_numpy(), want["x"].to_numpy())
    assert got["s"].tolist() == [None if v is None else v for v in want["s"]]
    assert got["c"].tolist() == [None if pd.isna(v) else v for v in want["c"].astype(object)]
    assert got["k"].fillna(-1).tolist() == want["k"].astype("Float64").fillna(-1).tolist()

"""``rank_within_group_by`` (H2O-3's rank within groups) against pandas, on one node and on three
nodes with tiny chunks; its refusals; and db-benchmark q9 (r^2 per group) from group sums.

The reference: ``sort_values(group + sort columns, kind="stable", na_position="last")``, then
``groupby(group, dropna=False).cumcount() + 1`` over the rows whose sort values are all present
(H2O-3: a row with a missing sort value has a missing rank and is not counted; checked on H2O-3 3.46,
which also ranks rows with missing group keys as one group).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal_server.config import NodeConfig
from shoal_server.errors import ColumnNotFound, InvalidParameter
from shoal_server.munging import evaluate
from shoal_server.munging.frames import gather
from shoal_server.munging.values import FrameVal
from shoal_server.node import Node
from shoal_server.store.layout import home_of

from fakecluster import fake_cluster
from munging_helpers import col, fr, make_frame, spread_frame, to_pandas
from munging_strategies import CHUNK_ROWS, frames

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
RANK = "New_Rank_column"


def expected(df: pd.DataFrame, groups: list, sorts: list, asc: list, resort: bool = False) -> pd.DataFrame:
    """pandas' answer: the input rows in the result order, plus the rank column (NaN = missing)."""
    s = df.sort_values(groups + sorts, ascending=[True] * len(groups) + asc, kind="stable", na_position="last")
    ok = s[sorts].notna().all(axis=1)
    rank = pd.Series(np.nan, index=s.index)
    if ok.any():
        elig = s[ok]
        rank[ok] = (elig.groupby(groups, dropna=False, observed=True, sort=False).cumcount() + 1).astype(float)
    s = s.assign(**{RANK: rank})
    if resort:
        s = s.sort_values(sorts, ascending=asc, kind="stable", na_position="last")
    return s.reset_index(drop=True)


def _rank_expr(key: str, groups, sorts, asc=None, **params) -> dict:
    e = {"op": "rank_within_group_by", "args": [fr(key)], "group_by_cols": groups, "sort_cols": sorts, **params}
    if asc is not None:
        e["ascending"] = asc
    return e


def _check(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got["rid"]) == list(want["rid"].astype(float))
    np.testing.assert_array_equal(got[RANK].to_numpy(), want[RANK].to_numpy())


GROUPS = st.sampled_from([["c"], ["k"], ["c", "k"], ["s"], ["x"], ["k", "s"]])
SORTS = st.sampled_from([["x"], ["y", "x"], ["k"], ["s"], ["c", "y"], ["y"]])


@SETTINGS
@given(df=frames(max_rows=30), rows=CHUNK_ROWS, groups=GROUPS, sorts=SORTS, resort=st.booleans(), data=st.data())
def test_ranks_match_pandas_cumcount_with_missing_values(node, df, rows, groups, sorts, resort, data):
    asc = data.draw(st.lists(st.booleans(), min_size=len(sorts), max_size=len(sorts)))
    df = df.assign(rid=pd.array(np.arange(len(df)), dtype="Int64"))
    make_frame(node, df, "rk", rows)
    r = evaluate(node, _rank_expr("rk", groups, sorts, asc, sort_cols_sorted=resort), "rk_out")
    assert r["frame"]["names"] == list(df.columns) + [RANK]
    assert r["frame"]["types"][-1] == "int"
    _check(to_pandas(node, "rk_out"), expected(df, groups, sorts, asc, resort))


def _bench_like(n: int, seed: int) -> pd.DataFrame:
    """db-benchmark's shape: id columns (enum / int) and values, some of them missing."""
    rng = np.random.default_rng(seed)
    v3 = np.round(rng.uniform(0, 100, n), 1)  # rounded: many ties
    v3[rng.random(n) < 0.08] = np.nan
    id6 = rng.integers(1, 6, n).astype(float)
    id6[rng.random(n) < 0.03] = np.nan
    return pd.DataFrame({
        "id2": pd.Categorical(rng.choice(["id001", "id002", "id003", None], n, p=[0.4, 0.3, 0.25, 0.05])),
        "id6": pd.array(pd.Series(id6).astype("Int64")),
        "v1": rng.integers(1, 6, n).astype(float),
        "v3": v3,
        "rid": pd.array(np.arange(n), dtype="Int64"),
    })


def test_descending_top_two_per_group_matches_db_benchmark_q8(node):
    df = _bench_like(400, 1)
    make_frame(node, df, "q8", 9)
    evaluate(node, _rank_expr("q8", ["id6"], ["v3"], [False]), "q8_r")
    got = to_pandas(node, "q8_r")
    _check(got, expected(df, ["id6"], ["v3"], [False]))
    top = evaluate(node, {"op": "rows", "args": [fr("q8_r"), {"op": "le", "args": [col("q8_r", RANK), 2]}]}, "q8_top")
    assert top["frame"]["nrow"] > 0
    top_df = to_pandas(node, "q8_top")
    # db-benchmark q8 (pandas): the two largest v3 per id6, NaN v3 dropped
    want = (df.dropna(subset=["v3"]).sort_values("v3", ascending=False, kind="stable")
            .groupby("id6", dropna=False).head(2))
    assert sorted(top_df["rid"].tolist()) == sorted(want["rid"].astype(float).tolist())
    # the other columns travel with their rows
    by_rid = df.set_index(df["rid"].astype(int))
    np.testing.assert_array_equal(top_df["v3"].to_numpy(), by_rid.loc[top_df["rid"].astype(int), "v3"].to_numpy())
    assert top_df["id2"].tolist() == [None if pd.isna(v) else v
                                      for v in by_rid.loc[top_df["rid"].astype(int), "id2"].astype(object)]


def test_default_direction_name_and_parameters(node):
    df = pd.DataFrame({"g": pd.Categorical(["a", "b", "a", None, "b", "a", None]),
                       "v": [3.0, 1.0, np.nan, 2.0, 5.0, 7.0, 2.0],
                       "w": [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 1.0]})
    make_frame(node, df, "small", 2)
    evaluate(node, _rank_expr("small", "g", "v"), "s1")  # single names, default ascending
    got = to_pandas(node, "s1")
    # hand-computed: a: 3, 7, NaN -> 1, 2, NA; b: 1, 5 -> 1, 2; missing group: 2, 2 -> 1, 2
    assert got["g"].tolist() == ["a", "a", "a", "b", "b", None, None]
    np.testing.assert_array_equal(got["v"].to_numpy(), [3.0, 7.0, np.nan, 1.0, 5.0, 2.0, 2.0])
    np.testing.assert_array_equal(got[RANK].to_numpy(), [1, 2, np.nan, 1, 2, 1, 2])
    evaluate(node, _rank_expr("small", ["g"], ["w", "v"], True, new_col_name="r", sort_cols_sorted=True), "s2")
    got = to_pandas(node, "s2")
    assert list(got.columns) == ["g", "v", "w", "r"]
    # re-sorted by (w, v) ascending, NaN v last among w == 1
    np.testing.assert_array_equal(got["w"].to_numpy(), [0.5, 1, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(got["v"].to_numpy(), [7.0, 1.0, 2.0, 2.0, 3.0, 5.0, np.nan])
    np.testing.assert_array_equal(got["r"].to_numpy(), [1, 1, 1, 2, 2, 2, np.nan])
    evaluate(node, _rank_expr("small", ["g"], ["v"], [], new_col_name=None), "s3")  # H2O's ascending=[]
    np.testing.assert_array_equal(to_pandas(node, "s3")[RANK].to_numpy(), [1, 2, np.nan, 1, 2, 1, 2])


def test_empty_frame_gives_an_empty_rank_column(node):
    make_frame(node, pd.DataFrame({"g": pd.Series([], dtype=float), "v": pd.Series([], dtype=float)}), "empty", 3)
    r = evaluate(node, _rank_expr("empty", ["g"], ["v"]), "empty_r")
    assert r["frame"]["nrow"] == 0 and r["frame"]["names"] == ["g", "v", RANK]


@pytest.mark.parametrize("params,exc,match", [
    ({"group_by_cols": ["nope"], "sort_cols": ["v"]}, ColumnNotFound, "nope"),
    ({"group_by_cols": ["g"], "sort_cols": ["zz"]}, ColumnNotFound, "zz"),
    ({"group_by_cols": [], "sort_cols": ["v"]}, InvalidParameter, "group_by_cols"),
    ({"group_by_cols": ["g"], "sort_cols": [True]}, InvalidParameter, "sort_cols"),
    ({"group_by_cols": ["g"], "sort_cols": ["v"], "ascending": [True, False]}, InvalidParameter, "1 of them"),
    ({"group_by_cols": ["g"], "sort_cols": ["v"], "ascending": "down"}, InvalidParameter, "ascending"),
    ({"group_by_cols": ["g"], "sort_cols": ["v"], "new_col_name": "v"}, InvalidParameter, "already a column"),
    ({"group_by_cols": ["g"], "sort_cols": ["v"], "new_col_name": ""}, InvalidParameter, "non-empty string"),
    ({"group_by_cols": ["g"], "sort_cols": ["v"], "sort_cols_sorted": 1}, InvalidParameter, "true or false"),
    ({"group_by_cols": ["g"]}, InvalidParameter, "needs parameter `sort_cols`"),
    ({"group_by_cols": ["g"], "sort_cols": ["v"], "by": ["g"]}, InvalidParameter, "no parameter `by`"),
])
def test_refusals_are_classed_and_say_what_was_received(node, params, exc, match):
    make_frame(node, pd.DataFrame({"g": [1.0, 2.0], "v": [3.0, 4.0]}), "bad", 3)
    with pytest.raises(exc, match=match) as info:
        evaluate(node, {"op": "rank_within_group_by", "args": [fr("bad")], **params})
    assert info.value.code in ("invalid_parameter", "column_not_found")


# ---------------------------------------------------------------------------------------- three nodes
@pytest.fixture(scope="module")
def cluster():
    with fake_cluster(3, 60000) as nodes:
        yield nodes


def test_one_node_and_three_nodes_with_tiny_chunks_give_the_same_bits_as_pandas(cluster, monkeypatch):
    import shoal_server.munging.frames as F
    monkeypatch.setattr(F, "OUTPUT_CHUNK_ROWS", 5)  # result chunks of 5 rows: groups span many chunks
    df = _bench_like(300, 7)
    df["s"] = pd.Series(np.random.default_rng(2).choice(["p", "q", "", None], len(df)), dtype=object)
    cases = [(["id6"], ["v3"], [False], False), (["id2", "id6"], ["v1", "v3"], [True, False], True),
             (["s"], ["id2", "v3"], [False, True], False), (["id2"], ["s"], [True], True)]
    with Node(NodeConfig(threads=2)) as single:
        make_frame(single, df, "raw", 1000)
        spread_frame(single, single, "raw", "d", 4)
        spread_frame(cluster[0], single, "raw", "d", 4)
        h3 = cluster[0].catalog.get("d")
        assert len({home_of(i, h3.members) for i in range(h3.nchunks)}) == 3
        for i, (groups, sorts, asc, resort) in enumerate(cases):
            expr = _rank_expr("d", groups, sorts, asc, sort_cols_sorted=resort)
            key = f"rank{i}"
            r1 = evaluate(single, expr, key)
            r3 = evaluate(cluster[1], expr, key)  # coordinated by another node than the data's builder
            assert r1["frame"]["nchunks"] > 10 and r1["frame"] == r3["frame"]
            a = gather(single, single.catalog.get(key), FrameVal.of(single.catalog.get(key)).cols)
            b = gather(cluster[2], cluster[2].catalog.get(key), FrameVal.of(cluster[2].catalog.get(key)).cols)
            for ca, cb in zip(a, b):
                assert ca.header == cb.header
                if ca.type == "string":
                    assert all(np.array_equal(x, y) for x, y in zip(ca.values, cb.values))
                else:
                    assert np.array_equal(ca.values, cb.values, equal_nan=ca.type == "real"), (key, ca.header.name)
            _check(to_pandas(cluster[2], key), expected(df, groups, sorts, asc, resort))
    for n in cluster:
        assert not [k for k in n.chunks.frame_keys() if "staging" in k or k.startswith("tmp_expr")]
        assert not [k for k in n.catalog.keys() if k.startswith("tmp_expr")]


# ---------------------------------------------------------------------------------------- q9
def _q9_expr(key: str) -> dict:
    """db-benchmark q9, r^2 of v1 and v2 by id2:id4, with existing ops only: per-group sums of
    x, y, x^2, y^2, xy and the count of complete pairs, then r^2 from them."""
    both = {"op": "and", "args": [{"op": "not", "args": [{"op": "isna", "args": [col(key, "v1")]}]},
                                  {"op": "not", "args": [{"op": "isna", "args": [col(key, "v2")]}]}]}
    pairs = {"op": "rows", "args": [fr(key), both]}  # pandas' corr: complete pairs only
    x = {"op": "col", "args": [pairs], "name": "v1"}
    y = {"op": "col", "args": [pairs], "name": "v2"}
    t = pairs
    for name, e in (("xx", {"op": "mul", "args": [x, x]}), ("yy", {"op": "mul", "args": [y, y]}),
                    ("xy", {"op": "mul", "args": [x, y]})):
        t = {"op": "assign", "args": [t, e], "name": name}
    g = {"op": "group_by", "args": [t], "by": ["id2", "id4"],
         "aggs": [{"agg": "nrow"}] + [{"agg": "sum", "col": c} for c in ("v1", "v2", "xx", "yy", "xy")]}
    return g


def _r2_from_sums(key: str) -> dict:
    def c(name):
        return col(key, name)

    def op(o, *a):
        return {"op": o, "args": list(a)}
    n, sx, sy, sxx, syy, sxy = (c(v) for v in ("nrow", "sum_v1", "sum_v2", "sum_xx", "sum_yy", "sum_xy"))
    cov = op("sub", op("mul", n, sxy), op("mul", sx, sy))
    vx = op("sub", op("mul", n, sxx), op("mul", sx, sx))
    vy = op("sub", op("mul", n, syy), op("mul", sy, sy))
    r2 = op("div", op("mul", cov, cov), op("mul", vx, vy))
    return {"op": "cbind", "args": [{"op": "cols", "args": [fr(key)], "select": ["id2", "id4"]},
                                    {"op": "rename", "args": [r2], "names": ["r2"]}]}


@pytest.mark.parametrize("with_missing", [False, True])
def test_q9_r_squared_from_group_sums_matches_pandas_corr(node, with_missing):
    rng = np.random.default_rng(11)
    n = 600
    df = pd.DataFrame({"id2": pd.Categorical(rng.choice(["id001", "id002", "id003"], n)),
                       "id4": pd.array(rng.integers(1, 5, n), dtype="Int64"),
                       "v1": rng.integers(1, 6, n).astype(float),
                       "v2": rng.integers(1, 16, n).astype(float)})
    df["v2"] = df["v2"] + 0.7 * df["v1"] * (df["id4"].astype(float) - 2)  # r^2 differs by group
    if with_missing:
        df.loc[rng.random(n) < 0.1, "v1"] = np.nan
        df.loc[rng.random(n) < 0.1, "v2"] = np.nan
    make_frame(node, df, "q9", 13)
    g = evaluate(node, _q9_expr("q9"), "q9_sums")
    assert g["frame"]["names"] == ["id2", "id4", "nrow", "sum_v1", "sum_v2", "sum_xx", "sum_yy", "sum_xy"]
    evaluate(node, _r2_from_sums("q9_sums"), "q9_r2")
    got = to_pandas(node, "q9_r2")
    # db-benchmark q9 (pandas): groupby(["id2","id4"]).apply(lambda x: x["v1"].corr(x["v2"])**2)
    want = (df.groupby(["id2", "id4"], observed=True)[["v1", "v2"]]
            .apply(lambda d: d["v1"].corr(d["v2"]) ** 2).rename("r2").reset_index())
    assert len(got) == len(want) == 12
    assert got["id2"].tolist() == want["id2"].astype(str).tolist()
    assert got["id4"].tolist() == want["id4"].astype(float).tolist()
    np.testing.assert_allclose(got["r2"].to_numpy(), want["r2"].to_numpy(), rtol=1e-9)


def test_two_thread_running_count_equals_one_pass(monkeypatch):
    """Large inputs count on two halves of the sorted order; the run that spans the cut is carried
    over (also when its rows before the cut are all unranked)."""
    from shoal_server.munging import rank as R
    from shoal_server.munging.reorg import sort_order
    rng = np.random.default_rng(3)
    for n in (2, 3, 10, 57, 400):
        for ngroups in (1, 3, 50):
            g = rng.integers(0, ngroups, n).astype(float)
            g[rng.random(n) < 0.1] = np.nan
            v = rng.normal(size=n)
            v[rng.random(n) < 0.3] = np.nan
            order = sort_order([g, v], [True, False])
            gk, sk = g.reshape(1, n).copy(), v.reshape(1, n).copy()
            monkeypatch.setattr(R, "_SPLIT_MIN_ROWS", 10**9)
            one = R._ranks(order, gk, sk)
            monkeypatch.setattr(R, "_SPLIT_MIN_ROWS", 1)
            two = R._ranks(order, gk, sk)
            assert np.array_equal(one[0][~one[1]], two[0][~two[1]]) and np.array_equal(one[1], two[1])
            # and against pandas' cumcount over the counted rows
            df = pd.DataFrame({"g": g, "v": v}).iloc[order]
            ok = df["v"].notna()
            want = df[ok].groupby("g", dropna=False, sort=False).cumcount() + 1
            assert np.array_equal(two[0][want.index.to_numpy()], want.to_numpy())


@pytest.mark.parametrize("split", [False, True])
def test_within_group_sort_path_equals_the_two_key_sort(monkeypatch, split):
    """One group and one sort column: radix by group, then each group's rows sorted and ranked —
    the same order as the two-key sort and the same ranks as the general count."""
    from shoal_server.munging import rank as R
    from shoal_server.munging.reorg import sort_order
    monkeypatch.setattr(R, "_SPLIT_MIN_ROWS", 1 if split else 10**9)
    rng = np.random.default_rng(11)
    for n in (1, 2, 9, 300, 5000):
        for ngroups in (1, 7, 1000):
            for asc in (True, False):
                g = rng.integers(0, ngroups, n).astype(float)
                g[rng.random(n) < 0.05] = np.nan
                v = rng.choice(np.array([np.nan, -0.0, 0.0, 1.5, -2.0, np.inf]), n) if n % 2 else rng.normal(size=n)
                got = R.order_and_ranks_by_segments(g, v, asc)
                if got is None:
                    assert n / max(1, len(np.unique(np.nan_to_num(g, nan=-1)))) > R._SEGMENT_MAX_MEAN
                    continue
                order, ranks, miss = got
                want_order = sort_order([g, v], [True, asc])
                assert np.array_equal(order, want_order)
                w_ranks, w_miss = R._ranks(want_order, g.reshape(1, n).copy(), v.reshape(1, n).copy())
                assert np.array_equal(miss, w_miss) and np.array_equal(ranks[~miss], w_ranks[~w_miss])


def test_rank_op_on_the_within_group_path_equals_pandas(node, monkeypatch):
    from shoal_server.munging import rank as R
    monkeypatch.setattr(R, "_SPLIT_MIN_ROWS", 1)
    df = _bench_like(3000, 5)
    make_frame(node, df, "q8big", 97)
    evaluate(node, _rank_expr("q8big", ["id6"], ["v3"], [False]), "q8big_r")
    _check(to_pandas(node, "q8big_r"), expected(df, ["id6"], ["v3"], [False]))

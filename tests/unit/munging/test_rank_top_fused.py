"""The fused ``rows(<column ops>(rank_within_group_by(...)), rank <op> constant)`` evaluation.

``r = fr.rank_within_group_by(...); r[r["New_Rank_column"] <= k, cols]`` reaches the server as one
expression with the rank node written twice (the client serialises a shared node as two equal
subtrees). The server recognises the pattern, computes the order and ranks once and stores only the
rows that pass (one group and one sort column with ``<=``, ``<``, ``==``: a per-group top-k pass, no
full sort). Each case is checked three ways: the fused answer equals the unfused one (the ranked
frame stored first, then filtered: same names, types, values and row order) and pandas'
(``sort_values`` stable, missing last, then ``cumcount`` over the rows with every sort value
present; a missing rank never passes), on one node and on three nodes with tiny chunks.
"""
from __future__ import annotations

import operator

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shoal_server.munging.frames as F
import shoal_server.munging.rank as R
from shoal_server.config import NodeConfig
from shoal_server.errors import InvalidParameter
from shoal_server.munging import evaluate
from shoal_server.munging.expr import parse
from shoal_server.munging.frames import store_columns
from shoal_server.node import Node
from shoal_server.store.layout import home_of

from fakecluster import fake_cluster
from munging_helpers import fr, make_frame, spread_frame, to_pandas
from munging_strategies import CHUNK_ROWS, frames

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
RANK = "New_Rank_column"
PD_CMP = {"le": operator.le, "lt": operator.lt, "eq": operator.eq, "ne": operator.ne, "ge": operator.ge,
          "gt": operator.gt}
MIRROR = {"le": "ge", "lt": "gt", "eq": "eq", "ne": "ne", "ge": "le", "gt": "lt"}


# ---------------------------------------------------------------------------------------- reference
def ranked(df: pd.DataFrame, groups: list, sorts: list, asc: list, resort: bool) -> pd.DataFrame:
    """pandas: the rows in rank_within_group_by's order plus the rank (NaN where a sort value is missing)."""
    s = df.sort_values(groups + sorts, ascending=[True] * len(groups) + asc, kind="stable", na_position="last")
    ok = s[sorts].notna().all(axis=1)
    rank = pd.Series(np.nan, index=s.index)
    if ok.any():
        rank[ok] = (s[ok].groupby(groups, dropna=False, observed=True, sort=False).cumcount() + 1).astype(float)
    s = s.assign(**{RANK: rank})
    if resort:
        s = s.sort_values(sorts, ascending=asc, kind="stable", na_position="last")
    return s.reset_index(drop=True)


def expected(df, groups, sorts, asc, resort, op, c, cols) -> pd.DataFrame:
    s = ranked(df, groups, sorts, asc, resort)
    r = s[RANK]
    keep = r.notna() & PD_CMP[op](r, c)  # NA compared with anything is NA: the row filter drops it
    out = s[keep].reset_index(drop=True)
    return out if cols is None else out[cols]


def _norm(s: pd.Series) -> list:
    if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object:
        return [None if pd.isna(v) else str(v) for v in s.astype(object)]
    return [None if np.isnan(v) else float(v) for v in pd.to_numeric(s).astype("Float64").to_numpy(float, na_value=np.nan)]


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for c in want.columns:
        assert _norm(got[c]) == _norm(want[c]), c


# ---------------------------------------------------------------------------------------- expressions
def rank_node(src: dict, groups, sorts, asc, resort=False, name=None) -> dict:
    e = {"op": "rank_within_group_by", "args": [src], "group_by_cols": groups, "sort_cols": sorts,
         "ascending": asc, "sort_cols_sorted": resort}
    if name is not None:
        e["new_col_name"] = name
    return e


def rank_col(src: dict, form: str, name: str = RANK) -> dict:
    """The rank column of ``src`` written the ways a client may write it."""
    if form == "args":
        return {"op": "col", "args": [src], "name": name}
    if form == "frame":
        return {"op": "col", "frame": src, "name": name}
    if form == "index":
        return {"op": "col", "args": [src], "index": -1}
    return {"op": "cols", "args": [src], "select": [name]}


def test_mask(src: dict, form: str, op: str, c, left: bool) -> dict:
    x = rank_col(src, form)
    return {"op": MIRROR[op], "args": [c, x]} if left else {"op": op, "args": [x, c]}


test_mask.__test__ = False  # a builder, not a test


def chain(src: dict, cols) -> dict:
    if cols is None:
        return src
    if cols[0] == "drop":
        return {"op": "drop", "args": [src], "names": cols[1]}
    return {"op": "cols", "args": [src], "select": cols}


def filtered(src: dict, mask: dict, cols) -> dict:
    return {"op": "rows", "args": [chain(src, cols), mask]}


def fused_and_unfused(node, key, groups, sorts, asc, resort, op, c, cols, form="args", left=False, tag="f"):
    """The fused answer (one expression, the rank node written twice) and the unfused one (the ranked
    frame stored first, then filtered), as pandas."""
    fused = filtered(rank_node(fr(key), groups, sorts, asc, resort), test_mask(
        rank_node(fr(key), groups, sorts, asc, resort), form, op, c, left), cols)
    assert R.fusable_rank_filter(parse(fused)) is not None
    a = evaluate(node, fused, f"{tag}_fused")
    evaluate(node, rank_node(fr(key), groups, sorts, asc, resort), f"{tag}_ranked")
    b = evaluate(node, filtered(fr(f"{tag}_ranked"), test_mask(fr(f"{tag}_ranked"), form, op, c, left), cols),
                 f"{tag}_unfused")
    assert a["frame"]["names"] == b["frame"]["names"] and a["frame"]["types"] == b["frame"]["types"]
    assert a["frame"]["nrow"] == b["frame"]["nrow"]
    return to_pandas(node, f"{tag}_fused"), to_pandas(node, f"{tag}_unfused")


GROUPS = st.sampled_from([["c"], ["k"], ["x"], ["s"], ["c", "k"], ["k", "s"]])
SORTS = st.sampled_from([["x"], ["y"], ["k"], ["s"], ["y", "x"], ["c", "y"]])
CONSTS = st.sampled_from([0, 1, 2, 2.5, 3, 40, -1, 1.0])
OPS = st.sampled_from(["le", "lt", "eq", "le", "lt", "eq", "ge", "gt", "ne"])
FORMS = st.sampled_from(["args", "frame", "index", "cols"])


@st.composite
def selections(draw, names):
    kind = draw(st.sampled_from(["all", "cols", "drop"]))
    if kind == "all":
        return None
    pool = names + [RANK]
    picked = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True))
    return ["drop", picked[:len(pool) - 1]] if kind == "drop" else picked


@SETTINGS
@given(df=frames(max_rows=30), rows=CHUNK_ROWS, groups=GROUPS, sorts=SORTS, op=OPS, c=CONSTS, form=FORMS,
       left=st.booleans(), resort=st.booleans(), data=st.data())
def test_fused_equals_unfused_and_pandas(node, df, rows, groups, sorts, op, c, form, left, resort, data):
    asc = data.draw(st.lists(st.booleans(), min_size=len(sorts), max_size=len(sorts)))
    df = df.assign(rid=pd.array(np.arange(len(df)), dtype="Int64"))
    cols = data.draw(selections(list(df.columns)))
    make_frame(node, df, "hf", rows)
    got, unfused = fused_and_unfused(node, "hf", groups, sorts, asc, resort, op, c, cols, form, left)
    want = expected(df, groups, sorts, asc, resort, op, c, None)
    if cols is not None:
        want = want.drop(columns=cols[1]) if cols[0] == "drop" else want[cols]
    assert_same(got, want)
    assert_same(unfused, want)


def _ties_and_missing(n: int, seed: int) -> pd.DataFrame:
    """Many ties (v3 rounded), missing sort values, missing group keys, groups of 1 to ~20 rows."""
    rng = np.random.default_rng(seed)
    v3 = np.round(rng.uniform(0, 10, n), 0)
    v3[rng.random(n) < 0.15] = np.nan
    id6 = rng.integers(1, max(2, n // 6), n).astype(float)
    id6[rng.random(n) < 0.05] = np.nan
    g2 = rng.uniform(0, 3, n).round(1)  # non-integer group keys: the hash-table path
    g2[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame({"id6": pd.array(pd.Series(id6).astype("Int64")), "g2": g2, "v3": v3,
                         "name": pd.Categorical(rng.choice(["a", "b", None], n)),
                         "rid": pd.array(np.arange(n), dtype="Int64")})


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("k", [1, 2, 3, 25])
@pytest.mark.parametrize("op", ["le", "lt", "eq"])
def test_top_k_with_ties_missing_values_and_k_beyond_group_sizes(node, monkeypatch, split, k, op):
    if split:  # the two-thread scan (halves merged) on small data
        monkeypatch.setattr(R, "_SPLIT_MIN_ROWS", 40)
    df = _ties_and_missing(300, k)
    make_frame(node, df, "tm", 7)
    for groups, asc in ((["id6"], [False]), (["g2"], [True]), (["id6"], [True])):
        got, unfused = fused_and_unfused(node, "tm", groups, ["v3"], asc, False, op, k, ["id6", "g2", "v3", "rid"],
                                         tag="tm")
        want = expected(df, groups, ["v3"], asc, False, op, k, ["id6", "g2", "v3", "rid"])
        if op == "le":
            assert len(want) > 0
        assert_same(got, want)
        assert_same(unfused, want)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_tiny_and_empty_frames(node, n):
    df = pd.DataFrame({"g": pd.array([1, None][:n], dtype="Int64"), "v": [np.nan, 2.0][:n]})
    make_frame(node, df, "tiny", 1)
    got, unfused = fused_and_unfused(node, "tiny", ["g"], ["v"], [True], False, "le", 2, None, tag="tiny")
    want = expected(df, ["g"], ["v"], [True], False, "le", 2, None)
    assert_same(got, want)
    assert_same(unfused, want)
    assert len(got) == (1 if n == 2 else 0)  # the NA-v row never passes; the missing group's row has rank 1


def test_q8_rows_only_the_passing_rows_are_stored(node, monkeypatch):
    """db-benchmark q8 (``<= 2``): the fused evaluation never stores the whole ranked frame."""
    rng = np.random.default_rng(5)
    n = 2000
    df = pd.DataFrame({"id6": pd.array(rng.integers(1, 101, n), dtype="Int64"),
                       "v3": np.round(rng.uniform(0, 100, n), 6)})
    df.loc[rng.random(n) < 0.05, "v3"] = np.nan
    make_frame(node, df, "q8f", 64)
    stored = []
    real = R.store_columns

    def spy(node_, dest, columns, *a, **kw):
        rows = kw.get("rows")
        stored.append(len(columns[0]) if rows is None else len(rows))
        return real(node_, dest, columns, *a, **kw)
    monkeypatch.setattr(R, "store_columns", spy)
    r = rank_node(fr("q8f"), ["id6"], ["v3"], [False])
    out = evaluate(node, filtered(r, test_mask(r, "args", "le", 2, False), ["id6", "v3"]), "q8f_top")
    assert stored and max(stored) == out["frame"]["nrow"] == 200
    got = to_pandas(node, "q8f_top")
    # db-benchmark q8 in pandas: the two largest v3 per id6, NaN v3 dropped, groups ascending
    want = (df.dropna(subset=["v3"]).sort_values("v3", ascending=False, kind="stable")
            .groupby("id6").head(2).sort_values("id6", kind="stable").reset_index(drop=True))
    assert_same(got, want)


# ---------------------------------------------------------------------------------------- not fused
def test_masks_that_are_not_fusable_still_give_the_right_answer(node, monkeypatch):
    df = _ties_and_missing(200, 3)
    make_frame(node, df, "nf", 9)
    calls = []
    real = R._order_and_ranks
    monkeypatch.setattr(R, "_order_and_ranks", lambda *a: calls.append(1) or real(*a))
    r = rank_node(fr("nf"), ["id6"], ["v3"], [False])
    base = ranked(df, ["id6"], ["v3"], [False], False)
    rank, v3 = base[RANK], base["v3"]
    cases = [
        # a combined mask: (rank <= 2) & (v3 > 5)
        ({"op": "and", "args": [test_mask(r, "args", "le", 2, False), {"op": "gt", "args": [
            {"op": "col", "args": [r], "name": "v3"}, 5]}]}, rank.notna() & (rank <= 2) & (v3 > 5)),
        # a comparison of another column of the ranked frame
        ({"op": "le", "args": [{"op": "col", "args": [r], "name": "v3"}, 2]}, v3 <= 2),
        # a column compared with a column
        ({"op": "le", "args": [rank_col(r, "args"), {"op": "col", "args": [r], "name": "id6"}]},
         rank.notna() & (rank <= base["id6"].astype("Float64").to_numpy(float, na_value=np.nan))),
        # true is not a number here
        ({"op": "le", "args": [rank_col(r, "args"), True]}, rank.notna() & (rank <= 1)),
    ]
    for i, (mask, keep) in enumerate(cases):
        assert R.fusable_rank_filter(parse(filtered(r, mask, None))) is None
        calls.clear()
        evaluate(node, filtered(r, mask, None), f"nf{i}")
        assert len(calls) == 1  # the rank node written twice is computed once
        assert_same(to_pandas(node, f"nf{i}"), base[keep.fillna(False).astype(bool)].reset_index(drop=True))
    # a mask from a different rank node (other direction): applied by position, as the unfused rows op does
    other = rank_node(fr("nf"), ["id6"], ["v3"], [True])
    e = filtered(r, test_mask(other, "args", "le", 1, False), ["rid", "v3"])
    assert R.fusable_rank_filter(parse(e)) is None
    evaluate(node, e, "nf_other")
    orank = ranked(df, ["id6"], ["v3"], [True], False)[RANK]
    assert_same(to_pandas(node, "nf_other"),
                base[(orank.notna() & (orank <= 1)).to_numpy()][["rid", "v3"]].reset_index(drop=True))
    # a mask of null: every test is missing, no row passes
    assert evaluate(node, filtered(r, test_mask(r, "args", "le", None, False), None), "nf_none")["frame"]["nrow"] == 0


def test_refusals_are_the_same_as_unfused(node):
    make_frame(node, pd.DataFrame({"g": [1.0, 2.0], "v": [3.0, 4.0]}), "bad2", 3)
    r = rank_node(fr("bad2"), ["g"], ["v"], [True], name="v")
    with pytest.raises(InvalidParameter, match="already a column"):
        evaluate(node, filtered(r, test_mask(r, "args", "le", 2, False), None))
    r = rank_node(fr("bad2"), ["g"], ["v"], [True, False])
    with pytest.raises(InvalidParameter, match="1 of them"):
        evaluate(node, filtered(r, test_mask(r, "args", "le", 2, False), None))
    with pytest.raises(InvalidParameter, match="Unknown operation"):
        evaluate(node, filtered(r, {"op": "exec", "args": [rank_col(r, "args"), 2]}, None))


def test_client_expression_reaches_the_server_as_one_fusable_tree(node):
    from shoal import expr as E
    df = _ties_and_missing(120, 9)
    make_frame(node, df, "cl", 11)
    r = E.frame("cl")[["id6", "v3", "rid"]].rank_within_group_by(["id6"], ["v3"], ascending=[False])
    e = r[r[RANK] <= 2, ["id6", "v3"]]
    tree = parse(e.to_json())
    assert R.fusable_rank_filter(tree) is not None
    evaluate(node, e.to_json(), "cl_top")
    want = expected(df, ["id6"], ["v3"], [False], False, "le", 2, ["id6", "v3"])
    assert_same(to_pandas(node, "cl_top"), want)


# ---------------------------------------------------------------------------------------- three nodes
@pytest.fixture(scope="module")
def cluster():
    with fake_cluster(3, 61300) as nodes:
        yield nodes


def test_one_node_and_three_nodes_with_tiny_chunks_agree_with_pandas(cluster, monkeypatch):
    monkeypatch.setattr(F, "OUTPUT_CHUNK_ROWS", 5)
    df = _ties_and_missing(300, 4)
    cases = [(["id6"], ["v3"], [False], False, "le", 2), (["id6"], ["v3"], [True], True, "lt", 3),
             (["g2"], ["v3"], [False], False, "eq", 1), (["name", "id6"], ["v3"], [False], False, "le", 2),
             (["id6"], ["v3"], [False], False, "ge", 2), (["id6"], ["v3"], [True], False, "le", 100)]
    cols = ["id6", "v3", "rid", RANK]
    with Node(NodeConfig(threads=2)) as single:
        make_frame(single, df, "raw", 1000)
        spread_frame(single, single, "raw", "d", 4)
        spread_frame(cluster[0], single, "raw", "d", 4)
        h3 = cluster[0].catalog.get("d")
        assert len({home_of(i, h3.members) for i in range(h3.nchunks)}) == 3
        for i, (groups, sorts, asc, resort, op, c) in enumerate(cases):
            r = rank_node(fr("d"), groups, sorts, asc, resort)
            e = filtered(r, test_mask(r, "args", op, c, False), cols)
            r1 = evaluate(single, e, f"top{i}")
            r3 = evaluate(cluster[1], e, f"top{i}")  # coordinated by another node than the data's builder
            assert r1["frame"]["nrow"] == r3["frame"]["nrow"] and r1["frame"]["names"] == r3["frame"]["names"]
            want = expected(df, groups, sorts, asc, resort, op, c, cols)
            assert len(want) > 10
            assert_same(to_pandas(single, f"top{i}"), want)
            assert_same(to_pandas(cluster[2], f"top{i}"), want)
            got3, unfused3 = fused_and_unfused(cluster[1], "d", groups, sorts, asc, resort, op, c, cols, tag=f"u{i}")
            assert_same(unfused3, want)
    for n in cluster:
        assert not [k for k in n.chunks.frame_keys() if "staging" in k or k.startswith("tmp_expr")]
        assert not [k for k in n.catalog.keys() if k.startswith("tmp_expr")]

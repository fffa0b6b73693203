"""``shoal.Frame.rank_within_group_by`` (H2O-3's method) and ``Expr.rank_within_group_by`` against a
real node, compared with pandas: sort by groups then sort columns (stable, NA last), cumcount per
group over the rows whose sort values are present; the db-benchmark q8 recipe (top two per group)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import shoal
from shoal import expr as sx
from shoal.errors import ShoalError


pytestmark = pytest.mark.usefixtures("connected", "reconnect")


def _df(n: int = 80, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    v3 = np.round(rng.uniform(0, 10, n), 0)  # ties
    v3[[1, 5, 17]] = np.nan
    return pd.DataFrame({"id6": pd.Categorical(rng.choice(["a", "b", "c"], n)),
                         "k": rng.integers(0, 3, n).astype(np.int64),
                         "v3": v3, "rid": np.arange(n, dtype=np.int64)})


def _want(df, groups, sorts, asc, resort=False, name="New_Rank_column"):
    s = df.sort_values(groups + sorts, ascending=[True] * len(groups) + asc, kind="stable", na_position="last")
    ok = s[sorts].notna().all(axis=1)
    rank = pd.Series(np.nan, index=s.index)
    rank[ok] = s[ok].groupby(groups, observed=True, sort=False).cumcount() + 1
    s = s.assign(**{name: rank})
    if resort:
        s = s.sort_values(sorts, ascending=asc, kind="stable", na_position="last")
    return s.reset_index(drop=True)


@pytest.fixture(scope="module")
def data():
    df = _df()
    return df, shoal.Frame(df, destination_frame="rank_client")


@pytest.mark.parametrize("groups,sorts,asc,resort", [
    (["id6"], ["v3"], [False], False),
    (["id6", "k"], ["v3", "rid"], [True, False], True),
    (["k"], ["id6"], [False], False),
])
def test_frame_method_matches_pandas(data, groups, sorts, asc, resort):
    df, fr = data
    got = fr.rank_within_group_by(groups, sorts, ascending=asc, sort_cols_sorted=resort).as_data_frame()
    want = _want(df, groups, sorts, asc, resort)
    assert list(got.columns) == ["id6", "k", "v3", "rid", "New_Rank_column"]
    assert got["rid"].tolist() == want["rid"].tolist()
    np.testing.assert_array_equal(got["New_Rank_column"].astype(float).to_numpy(),
                                  want["New_Rank_column"].to_numpy())


def test_h2o_call_forms_and_q8_recipe(data):
    df, fr = data
    # single names, indices, a single bool, H2O's ascending=[] and a custom column name
    a = fr.rank_within_group_by("id6", 2, ascending=False, new_col_name="r").as_data_frame()
    b = fr.rank_within_group_by([0], ["v3"], ascending=[False], new_col_name="r").as_data_frame()
    assert a.equals(b)
    c = fr.rank_within_group_by("id6", "v3", ascending=[]).as_data_frame()
    want = _want(df, ["id6"], ["v3"], [True])
    np.testing.assert_array_equal(c["New_Rank_column"].astype(float).to_numpy(), want["New_Rank_column"].to_numpy())
    # db-benchmark q8: largest two v3 by id6
    r = fr.rank_within_group_by(["id6"], ["v3"], ascending=[False])
    top = r[r["New_Rank_column"] <= 2, :].as_data_frame()
    pd_top = df.dropna(subset=["v3"]).sort_values("v3", ascending=False, kind="stable").groupby(
        "id6", observed=True).head(2)
    assert sorted(top["rid"].tolist()) == sorted(pd_top["rid"].tolist())
    assert len(top) == 6


def test_expr_builder_builds_the_documented_tree_and_runs(data, connected):
    df, _fr = data
    e = sx.frame("rank_client").rank_within_group_by("k", ["v3"], ascending=[False], new_col_name="r")
    assert e.tree == {"op": "rank_within_group_by", "args": [{"op": "frame", "key": "rank_client"}],
                      "group_by_cols": ["k"], "sort_cols": ["v3"], "ascending": [False], "new_col_name": "r"}
    res = e.evaluate(conn=connected)
    assert res["kind"] == "frame" and res["frame"]["names"][-1] == "r"


def test_unknown_column_is_refused_with_a_classed_error(data):
    _df_, fr = data
    with pytest.raises(ShoalError) as info:
        fr.rank_within_group_by(["nope"], ["v3"]).as_data_frame()
    assert info.value.code == "column_not_found" and "nope" in str(info.value)
    with pytest.raises(ShoalError) as info:
        fr.rank_within_group_by(["id6"], ["v3", "k"], ascending=[True]).as_data_frame()
    assert info.value.code == "invalid_parameter" and "ascending" in str(info.value)

"""The H2O-style munging API of ``shoal.Frame`` against a real node, each method compared with pandas
/ numpy on a small frame with missing values, an enum, a string and a time column; lazy evaluation,
in-place updates under the frame's own key, and the cleanup of temporary frames."""
from __future__ import annotations

import gc
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shoal
from shoal import expr as sx
from shoal._generated import expressions as gx
from shoal.frame import TEMP_PREFIX, StaleExpressionError

ROOT = Path(__file__).resolve().parents[2]
N = 60


pytestmark = pytest.mark.usefixtures("connected", "reconnect")


def _df(n: int = N, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "x": np.round(rng.normal(0.5, 2.0, n), 3),
        "y": rng.integers(0, 10, n).astype(np.int64),
        "g": pd.Categorical(rng.choice(["a", "b", "c"], n), categories=["a", "b", "c"]),
        "h": rng.integers(0, 3, n).astype(np.int64),
        "s": [f"Word{i % 7} Tail{i % 3}" for i in range(n)],
        "t": pd.to_datetime(1_500_000_000_000 + rng.integers(0, 3 * 10**11, n), unit="ms").astype("datetime64[ms]"),
    })
    df.loc[[2, 11, 30], "x"] = np.nan
    df["g"] = df["g"].astype(object).where(~df.index.isin([4, 40]), None).astype(pd.CategoricalDtype(["a", "b", "c"]))
    df.loc[[7], "s"] = np.nan
    df.loc[[9], "t"] = pd.NaT
    return df


@pytest.fixture(scope="module")
def df():
    return _df()


@pytest.fixture(scope="module")
def fr(df):
    return shoal.Frame(df, destination_frame="mung_base")


def _same_values(got: pd.Series, want: pd.Series) -> None:
    """Equal values (missing ≡ missing) whatever the nullable dtype."""
    g = [None if pd.isna(v) else v for v in got.astype(object).tolist()]
    w = [None if pd.isna(v) else v for v in want.astype(object).tolist()]
    assert len(g) == len(w)
    for a, b in zip(g, w):
        if isinstance(a, float) or isinstance(b, float):
            assert (a is None and b is None) or (a is not None and b is not None and a == pytest.approx(b, rel=1e-12))
        else:
            assert a == b, (g, w)


def _keys() -> list[str]:
    return shoal.ls()["key"].tolist()


# ------------------------------------------------------------------------------------------ laziness

def test_operators_are_lazy_until_the_data_is_needed(fr, df):
    before = set(_keys())
    m = fr["x"] > 0.5
    assert m.is_lazy and set(_keys()) == before  # nothing evaluated yet
    assert m.names == ["x"] and not m.is_lazy and m.key.startswith(TEMP_PREFIX)
    _same_values(m.as_data_frame()["x"], (df["x"] > 0.5).astype(object).where(df["x"].notna(), None))


def test_a_non_fused_lazy_frame_is_evaluated_once_before_reuse(fr, df):
    late = fr[fr["y"] > 2, :]
    assert late.is_lazy
    both = late["x"] + late["y"]  # the row filter runs once, then both columns name its key
    assert not late.is_lazy and both.is_lazy
    want = df[df["y"] > 2]
    _same_values(both.as_data_frame()["x"], (want["x"] + want["y"]).reset_index(drop=True))
    r = fr.runif()  # unseeded: drawn once, so the two halves partition the rows
    lo, hi = fr[r < 0.5, :], fr[r >= 0.5, :]
    assert lo.nrow + hi.nrow == len(df)


def test_elementwise_arithmetic_equals_pandas(fr, df):
    out = ((fr["x"] * 2 + fr["y"]) / 4 - 1).as_data_frame()["x"]
    _same_values(out, (df["x"] * 2 + df["y"]) / 4 - 1)
    _same_values((10 - fr["y"]).as_data_frame()["y"], 10 - df["y"])
    _same_values((fr["y"] % 3).as_data_frame()["y"], df["y"] % 3)
    _same_values(fr["x"].abs().as_data_frame()["x"], df["x"].abs())
    _same_values(fr["x"].isna().as_data_frame()["x"], df["x"].isna())
    _same_values((~(fr["y"] > 4)).as_data_frame()["y"], ~(df["y"] > 4))


# ------------------------------------------------------------------------------------------ selection

def test_row_filter_with_enum_and_number_conditions(fr, df):
    late = fr[(fr["g"] == "a") & (fr["y"] >= 3), :]
    want = df[(df["g"] == "a") & (df["y"] >= 3)].reset_index(drop=True)
    got = late.as_data_frame()
    assert late.nrow == len(want) and late.names == list(df.columns)
    for c in df.columns:
        _same_values(got[c], want[c])
    # a mask alone (no column part) filters rows too
    assert fr[fr["x"] > 1].nrow == int((df["x"] > 1).sum())


def test_column_lists_slices_and_row_indices(fr, df):
    assert fr[["s", "x"]].names == ["s", "x"]
    assert fr[1:3].names == list(df.columns[1:3])
    assert fr[:, [0, 2]].names == ["x", "g"]
    _same_values(fr[5:12, :].as_data_frame()["y"], df["y"].iloc[5:12])
    _same_values(fr[[8, 3, 3, 0], "y"].as_data_frame()["y"], df["y"].iloc[[8, 3, 3, 0]])
    assert fr.drop("x").names == [c for c in df.columns if c != "x"]
    assert fr.drop(["x", "g"]).ncol == df.shape[1] - 2
    assert fr.shape == df.shape and fr.dim == list(df.shape) and len(fr) == len(df)
    assert fr.types == {"x": "real", "y": "int", "g": "enum", "h": "int", "s": "string", "t": "time"}
    assert "x" in fr and list(fr) == list(df.columns)


# ------------------------------------------------------------------------------------------ assignment

def test_new_column_is_stored_under_the_frames_own_key(df):
    fr = shoal.Frame(df, destination_frame="mung_assign")
    fr["dep_delayed"] = fr["x"] > 0.5
    fr["ten"] = 10
    fr["label"] = "k"
    assert fr.key == "mung_assign" and fr.names == list(df.columns) + ["dep_delayed", "ten", "label"]
    stored = shoal.get_frame("mung_assign")  # a model taking the key sees the new columns
    assert stored.names == fr.names
    got = stored.as_data_frame()
    _same_values(got["dep_delayed"], (df["x"] > 0.5).astype(object).where(df["x"].notna(), None))
    assert got["ten"].tolist() == [10] * len(df) and got["label"].astype(str).tolist() == ["k"] * len(df)
    fr["y"] = fr["y"] * 100  # replace an existing column
    _same_values(fr.as_data_frame()["y"], df["y"] * 100)
    assert not [k for k in _keys() if "staging" in k]


def test_masked_assignment_equals_pandas_loc(df):
    fr = shoal.Frame(df, destination_frame="mung_mask")
    fr[fr["x"] < 0, "x"] = 0
    fr[fr["g"] == "b", ["y", "h"]] = -1
    want = df.copy()
    want.loc[want["x"] < 0, "x"] = 0
    want.loc[want["g"] == "b", ["y", "h"]] = -1
    got = shoal.get_frame("mung_mask").as_data_frame()
    for c in ("x", "y", "h"):
        _same_values(got[c], want[c])
    fr[2:6, "y"] = 99  # rows by position
    fr[[0, 40], "h"] = 7
    want.iloc[2:6, want.columns.get_loc("y")] = 99
    want.iloc[[0, 40], want.columns.get_loc("h")] = 7
    got = fr.as_data_frame()
    _same_values(got["y"], want["y"])
    _same_values(got["h"], want["h"])
    assert not [k for k in _keys() if k.startswith(TEMP_PREFIX) and shoal.get_frame(k).names == ["mask"]]


def test_values_computed_before_an_update_keep_their_old_values(df):
    fr = shoal.Frame(df, destination_frame="mung_snap")
    old = fr["x"] * 1  # lazy, names fr by key
    mask = fr["x"] < 0
    fr[mask, "x"] = 0
    _same_values(old.as_data_frame()["x"], df["x"])  # evaluated before the overwrite
    with pytest.raises(StaleExpressionError, match="modified in place"):
        mask.nrow  # consumed by the assignment, built on the old version
    fr.names = ["a", "b", "c", "d", "e", "f"]
    assert shoal.get_frame("mung_snap").names == ["a", "b", "c", "d", "e", "f"]


def test_a_lazy_frame_trains_a_model_by_key(df):
    sub = shoal.Frame(df, destination_frame="mung_model")
    train = sub[sub["x"].isna() == False, :]  # noqa: E712  (elementwise)
    m = shoal.GLM(family="gaussian", lambda_value=0.0, compute_p_values=False)
    m.train(x=["y"], y="x", training_frame=train, progress=False)
    clean = df[df["x"].notna()]
    slope = np.polyfit(clean["y"].to_numpy(float), clean["x"].to_numpy(), 1)[0]
    assert m.coef()["y"] == pytest.approx(slope, rel=1e-6)


def test_frame_equality_between_handles_and_elementwise(fr, df):
    same = shoal.get_frame("mung_base")
    assert same == fr and not (same != fr)
    other = shoal.Frame(df.head(3))
    assert not (other == fr)
    _same_values((fr["y"] == 3).as_data_frame()["y"], df["y"] == 3)
    with pytest.raises(ValueError, match="ambiguous"):
        bool(fr["y"] > 3)


# ------------------------------------------------------------------------------------------ reducers

def test_reducers_return_python_values_like_pandas(fr, df):
    assert fr["x"].mean() == pytest.approx(df["x"].mean(), rel=1e-12)
    assert np.isnan(fr["x"].mean(skipna=False))
    s = fr[["x", "y"]].sum()
    assert isinstance(s, list) and s[0] == pytest.approx(df["x"].sum()) and s[1] == int(df["y"].sum())
    assert fr["y"].sum() == int(df["y"].sum()) and isinstance(fr["y"].sum(), int)
    assert fr["x"].min() == df["x"].min() and fr["x"].max() == df["x"].max()
    assert fr["x"].median(na_rm=True) == pytest.approx(df["x"].median())
    assert fr["x"].sd(na_rm=True) == pytest.approx(df["x"].std(), rel=1e-12)
    assert fr["y"].var() == pytest.approx(df["y"].var(), rel=1e-12)
    assert fr["x"].nacnt() == 3 and fr[["x", "s", "t"]].nacnt() == [3, 1, 1]
    assert (fr["y"] >= 0).all() is True and (fr["y"] > 8).any() is bool((df["y"] > 8).any())
    assert fr[fr["y"] < 3, "y"].prod() == int(df.loc[df["y"] < 3, "y"].prod())
    assert fr.levels() == [[], [], ["a", "b", "c"], [], [], []]
    assert fr["g"].levels() == [["a", "b", "c"]] and fr.nlevels() == [0, 0, 3, 0, 0, 0]
    assert fr[["x", "y"]].cor() .as_data_frame().shape == (2, 2)
    both = df[["x", "y"]].dropna()
    assert fr["x"].cor(fr["y"], na_rm=True) == pytest.approx(both["x"].corr(both["y"]), rel=1e-10)


# ------------------------------------------------------------------------------------------ group_by

def test_group_by_equals_pandas_groupby(fr, df):
    g = (fr.group_by(["g", "h"]).count().mean("x", na="rm").sd("x", na="rm").median("y")
         .sum("y").get_frame())
    got = g.as_data_frame()
    assert list(got.columns) == ["g", "h", "nrow", "mean_x", "sdev_x", "median_y", "sum_y"]
    pdg = df.groupby(["g", "h"], dropna=False, observed=True, sort=True)
    want = pd.DataFrame({"nrow": pdg.size(), "mean_x": pdg["x"].mean(), "sdev_x": pdg["x"].std(),
                         "median_y": pdg["y"].median(), "sum_y": pdg["y"].sum()}).reset_index()
    assert len(got) == len(want)
    for c in want.columns:
        _same_values(got[c], want[c])


def test_group_by_na_all_makes_groups_with_missing_values_missing(fr, df):
    got = fr.group_by("h").mean("x").get_frame().as_data_frame()
    want = df.groupby("h")["x"].apply(lambda v: v.mean() if v.notna().all() else np.nan)
    _same_values(got["mean_x"], want.reset_index(drop=True))


# ------------------------------------------------------------------------------------------ quantile, sort, merge, split

def test_quantile_equals_numpy_linear(fr, df):
    probs = [0.01, 0.1, 0.5, 0.9, 0.99]
    q = fr["x"].quantile(prob=probs, combine_method="interpolate").as_data_frame()
    assert list(q.columns) == ["Probs", "xQuantiles"]
    assert q["Probs"].tolist() == probs
    np.testing.assert_allclose(q["xQuantiles"].to_numpy(), np.quantile(df["x"].dropna(), probs, method="linear"),
                               rtol=1e-12)
    two = fr[["x", "y"]].quantile(prob=[0.5]).as_data_frame()
    assert list(two.columns) == ["Probs", "xQuantiles", "yQuantiles"]
    assert two["yQuantiles"][0] == np.median(df["y"])


def test_sort_is_stable_with_missing_last(fr, df):
    got = fr.sort(["g", "x"], ascending=[True, False]).as_data_frame()
    want = df.sort_values(["g", "x"], ascending=[True, False], na_position="last", kind="stable").reset_index(drop=True)
    for c in ("g", "x", "y", "s"):
        _same_values(got[c], want[c])
    got = fr.sort("y").as_data_frame()
    want = df.sort_values("y", kind="stable").reset_index(drop=True)
    _same_values(got["x"], want["x"])


@pytest.mark.parametrize("how,all_x,all_y", [("inner", False, False), ("left", True, False),
                                             ("right", False, True), ("outer", True, True)])
def test_merge_equals_pandas_merge_up_to_row_order(how, all_x, all_y):
    left = pd.DataFrame({"k": [1, 2, 2, 3, 5, 7], "a": [0.5, 1.5, 2.5, np.nan, 4.5, 5.5]})
    right = pd.DataFrame({"k": [2, 3, 3, 4, 7], "b": ["u", "v", "w", "x", "y"]})
    x, y = shoal.Frame(left), shoal.Frame(right)
    got = x.merge(y, all_x=all_x, all_y=all_y).as_data_frame()
    want = pd.merge(left, right, on="k", how=how)
    assert list(got.columns) == ["k", "a", "b"]
    key = ["k", "a", "b"]
    norm = lambda d: d.assign(b=d["b"].astype(object)).sort_values(key, na_position="last").reset_index(drop=True)  # noqa: E731
    g, w = norm(got), norm(want)
    for c in key:
        _same_values(g[c], w[c])
    assert shoal.merge(x, y, all_x=all_x, all_y=all_y).nrow == len(want)


def test_split_frame_partitions_the_rows():
    n = 3000
    big = shoal.Frame(pd.DataFrame({"id": np.arange(n, dtype=np.int64)}))
    train, valid, test = big.split_frame(ratios=[0.7, 0.15], seed=42)
    ids = [set(p.as_data_frame()["id"].tolist()) for p in (train, valid, test)]
    assert sum(len(s) for s in ids) == n and set().union(*ids) == set(range(n))
    for got, ratio in zip(ids, (0.7, 0.15, 0.15)):
        assert abs(len(got) / n - ratio) < 0.04
    again = [p.nrow for p in big.split_frame(ratios=[0.7, 0.15], seed=42)]
    assert again == [len(s) for s in ids]


# ------------------------------------------------------------------------------------------ types, text, time

def test_type_text_and_time_columns(fr, df):
    f = fr["y"].asfactor()
    assert f.types == {"y": "enum"} and f.levels() == [[str(v) for v in sorted(df["y"].unique())]]
    _same_values(fr["s"].tolower().as_data_frame()["s"], df["s"].str.lower())
    _same_values(fr["s"].toupper().as_data_frame()["s"], df["s"].str.upper())
    _same_values(fr["s"].nchar().as_data_frame()["s"], df["s"].str.len())
    _same_values(fr["s"].substring(1, 4).as_data_frame()["s"], df["s"].str.slice(1, 4))
    t = df["t"]
    _same_values(fr["t"].year().as_data_frame()["t"], t.dt.year)
    _same_values(fr["t"].month().as_data_frame()["t"], t.dt.month)
    _same_values(fr["t"].day().as_data_frame()["t"], t.dt.day)
    _same_values(fr["t"].hour().as_data_frame()["t"], t.dt.hour)
    _same_values(fr["g"].ascharacter().as_data_frame()["g"], df["g"].astype(object))
    _same_values(fr["g"].asnumeric().as_data_frame()["g"], df["g"].cat.codes.replace(-1, np.nan))


def test_cbind_rbind_ifelse_unique_table(fr, df):
    both = fr[["x"]].cbind(fr[["y"]] * 2)
    assert both.names == ["x", "y"]
    _same_values(both.as_data_frame()["y"], df["y"] * 2)
    assert shoal.cbind(fr["x"], fr["x"]).names == ["x", "x_2"]
    stacked = fr[["y", "g"]].rbind(fr[["y", "g"]])
    assert stacked.nrow == 2 * len(df)
    _same_values(stacked.as_data_frame()["y"], pd.concat([df["y"], df["y"]]))
    _same_values(shoal.ifelse(fr["y"] > 4, fr["y"], -1).as_data_frame()["y"], df["y"].where(df["y"] > 4, -1))
    _same_values((fr["y"] > 4).ifelse("hi", "lo").as_data_frame()["y"],
                 pd.Series(np.where(df["y"] > 4, "hi", "lo")))
    _same_values(fr["y"].unique().as_data_frame()["y"], pd.Series(sorted(df["y"].unique())))
    tab = fr["g"].table().as_data_frame()
    counts = df["g"].value_counts().sort_index()
    assert tab["g"].astype(str).tolist() == list(counts.index) and tab["Count"].tolist() == counts.tolist()
    hist = fr["y"].hist(breaks=[-0.5, 4.5, 9.5]).as_data_frame()
    assert hist["counts"].tolist() == [int((df["y"] <= 4).sum()), int((df["y"] > 4).sum())]


def test_kfold_impute_fillna_drop_duplicates(df):
    fr = shoal.Frame(df, destination_frame="mung_impute")
    folds = fr.kfold_column(n_folds=5, seed=1).as_data_frame()["fold"]
    assert set(folds.unique()) <= set(range(5)) and len(folds) == len(df)
    assert fr.impute("x", "median", by=["g"]) is fr
    got = shoal.get_frame("mung_impute").as_data_frame()["x"]
    med = df.groupby("g", dropna=False, observed=True)["x"].transform("median")
    want = df["x"].where(df["x"].notna(), med)
    _same_values(got, want)
    _same_values(fr[["y"]].drop_duplicates().as_data_frame()["y"], df["y"].drop_duplicates())
    _same_values(shoal.Frame(df[["x"]]).fillna().as_data_frame()["x"], df["x"].ffill(limit=1))


# ------------------------------------------------------------------------------------------ temporaries

def test_temporaries_are_deleted_when_dropped_and_named_frames_are_kept(df):
    lazy = shoal.Frame(df, destination_frame="mung_named")[["x"]] * 3
    key = lazy.key
    parts = shoal.get_frame("mung_named").split_frame([0.5], seed=3)
    part_keys = [p.key for p in parts]
    assert key.startswith(TEMP_PREFIX) and all(k.startswith(TEMP_PREFIX) for k in part_keys)
    assert {key, *part_keys} <= set(_keys())
    del lazy, parts
    gc.collect()
    keys = set(_keys())
    assert key not in keys and not (set(part_keys) & keys)
    assert "mung_named" in keys and "mung_base" in keys  # user-named frames are never deleted
    named = shoal.get_frame("mung_named")
    view = named[["x", "y"]]  # columns passed through: the chunks are shared with mung_named
    view_key = view.key
    del view
    gc.collect()
    assert view_key not in _keys()
    back = named.as_data_frame()
    _same_values(back["x"], df["x"])
    _same_values(back["y"], df["y"])


# ------------------------------------------------------------------------------------------ generated builders

def test_one_generated_builder_per_published_expression_op():
    desc = json.loads((ROOT / "server/shoal_server/api/description.json").read_text(encoding="utf-8"))
    assert sorted(gx.OPS) == sorted(e["op"] for e in desc["expression_ops"])
    q = gx.quantile(sx.frame("f")["x"], probs=[0.5], combine_method="low")
    assert q.tree == {"op": "quantile", "args": [{"op": "col", "args": [{"op": "frame", "key": "f"}], "name": "x"}],
                      "probs": [0.5], "combine_method": "low"}
    assert gx.table(sx.frame("f")).tree == {"op": "table", "args": [{"op": "frame", "key": "f"}]}
    assert "Exact quantiles" in gx.quantile.__doc__
    with pytest.raises(TypeError):
        gx.sort(sx.frame("f"))  # `by` is required


# ------------------------------------------------------------------------------------------ regex

def test_sub_gsub_strsplit_grep_equal_python_re(fr, df):
    import re

    vals = df["s"].tolist()
    _same_values(fr["s"].sub("o", "0").as_data_frame()["s"], df["s"].str.replace("o", "0", n=1, regex=True))
    _same_values(fr["s"].gsub("[aeiou]", "_").as_data_frame()["s"], df["s"].str.replace("[aeiou]", "_", regex=True))
    _same_values(fr["s"].gsub("WORD", "w", ignore_case=True).as_data_frame()["s"],
                 df["s"].str.replace("word", "w", case=False, regex=True))
    _same_values(fr["s"].sub(r"(\w+) (\w+)", r"\2 \1").as_data_frame()["s"],
                 df["s"].str.replace(r"(\w+) (\w+)", r"\2 \1", n=1, regex=True))
    parts = fr["s"].strsplit(" ").as_data_frame()
    want = df["s"].str.split(" ", expand=True)
    assert list(parts.columns) == [f"C{i + 1}" for i in range(want.shape[1])]
    for i in range(want.shape[1]):
        _same_values(parts[f"C{i + 1}"], want[i])
    hit = [v is not None and not pd.isna(v) and re.search("Tail1|Word3", v) is not None for v in vals]
    idx = fr["s"].grep("Tail1|Word3").as_data_frame().iloc[:, 0].tolist()
    assert idx == [i for i, h in enumerate(hit) if h]
    _same_values(fr["s"].grep("Tail1|Word3", output_logical=True).as_data_frame().iloc[:, 0], pd.Series(hit))
    inv = fr["s"].grep("Tail1|Word3", invert=True).as_data_frame().iloc[:, 0].tolist()
    assert inv == [i for i, h in enumerate(hit) if not h]

"""group_by's coordinator merge of per-chunk statistics (``group_by._merge_parts``).

The dense binary-counter path, the sorted-entries path, one thread or the compute pool: all must
give the bits of the runtime's fixed pairwise tree over chunk indices (``tasks.reduce.tree_reduce``,
checked here with a plain-Python merge of dicts), and the grouped frames must equal pandas.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shoal_server.munging import evaluate
from shoal_server.munging import group_by as G
from shoal_server.store.rollups import rollups_view
from shoal_server.tasks.reduce import tree_reduce

from munging_helpers import fr, make_frame, to_pandas


class _Ctx:
    def __init__(self, node):
        self.node, self.job = node, None


def _py_merge(a: dict, b: dict, lay: np.ndarray) -> dict:
    """The fixed tree's merge of two partials {code: (ist list, fst list)}, in plain Python floats."""
    out = dict(a)
    for code, (ib, fb) in b.items():
        if code not in a:
            out[code] = (ib, fb)
            continue
        ia, fa = a[code]
        ii, ff = list(ia), list(fa)
        ii[0] = ia[0] + ib[0]
        for j, (rs, rmean, rm2, rmin, rmax) in enumerate(lay.tolist()):
            n_a, n_b = ia[1 + 2 * j], ib[1 + 2 * j]
            n = n_a + n_b
            ii[1 + 2 * j], ii[2 + 2 * j] = n, ia[2 + 2 * j] + ib[2 + 2 * j]
            ff[rs] = fa[rs] + fb[rs]
            if rm2 >= 0:
                if n > 0:
                    delta = fb[rmean] - fa[rmean]
                    frac = n_b / n
                    ff[rmean] = fa[rmean] + delta * frac
                    ff[rm2] = fa[rm2] + fb[rm2] + delta * delta * n_a * frac
                else:
                    ff[rmean] = ff[rm2] = 0.0
            if rmin >= 0:
                ff[rmin], ff[rmax] = min(fa[rmin], fb[rmin]), max(fa[rmax], fb[rmax])
        out[code] = (ii, ff)
    return out


def _random_parts(rng, nchunks: int, span: int, lay: np.ndarray):
    ri, rf = 1 + 2 * len(lay), int(lay.max()) + 1
    parts = {"ci": [], "codes": [], "ist": [], "fst": []}
    for c in range(nchunks):
        codes = np.sort(rng.choice(span, size=int(rng.integers(0, min(span, 40) + 1)), replace=False)).astype(np.int64)
        m = len(codes)
        ist = rng.integers(0, 5, (ri, m)).astype(np.int64)
        ist[0] = ist[1::2].max(axis=0, initial=0) + ist[2::2].max(axis=0, initial=0) + 1  # rows >= n + nas > 0
        fst = rng.normal(size=(rf, m)) * 10.0 ** rng.integers(-3, 6, (rf, m))
        for rs, rmean, rm2, rmin, rmax in lay.tolist():
            if rm2 >= 0:
                fst[rm2] = np.abs(fst[rm2])
        parts["ci"].append(c)
        parts["codes"].append(codes)
        parts["ist"].append(ist)
        parts["fst"].append(fst)
    return parts


@pytest.mark.parametrize("nchunks", [1, 2, 3, 7, 8, 9, 33])
@pytest.mark.parametrize("pool_min", [0, 10**9])
def test_merge_paths_give_the_bits_of_the_fixed_tree(node, monkeypatch, nchunks, pool_min):
    rng = np.random.default_rng(nchunks)
    lay = np.array([[0, 1, 2, 3, 4], [5, -1, -1, -1, -1], [6, 7, 8, -1, -1], [9, -1, -1, 10, 11]], np.int64)
    span = 50
    parts = _random_parts(rng, nchunks, span, lay)
    leaves = [{int(k): (ist[:, j].tolist(), fst[:, j].tolist()) for j, k in enumerate(codes)}
              for codes, ist, fst in zip(parts["codes"], parts["ist"], parts["fst"])]
    want = tree_reduce(leaves, lambda a, b: _py_merge(a, b, lay))
    want_codes = sorted(want)
    monkeypatch.setattr(G, "_POOL_MIN", pool_min)
    got = {}
    # the dense path in one block of codes, and in blocks of 16 codes (_BLOCK_BYTES 0: the smallest)
    for path, stream_bytes, block_bytes in (("dense", 1 << 30, 1 << 20), ("dense", 1 << 30, 0), ("sorted", 0, 0)):
        monkeypatch.setattr(G, "_STREAM_BYTES", stream_bytes)
        monkeypatch.setattr(G, "_BLOCK_BYTES", block_bytes)
        for sp in ((span,) if path == "dense" else (span, 1 << 40)):  # 2**40: too wide for a counting sort
            codes, ist, fst = G._merge_parts(_Ctx(node), parts, sp, lay)
            assert codes.tolist() == want_codes, (path, sp, block_bytes)
            for g, code in enumerate(want_codes):
                wi, wf = want[code]
                assert ist[:, g].tolist() == wi, (path, sp, block_bytes, code)
                assert fst[:, g].tobytes() == np.array(wf, np.float64).tobytes(), (path, sp, block_bytes, code)
            got[(path, sp, block_bytes)] = (codes, ist, fst)


def _data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k = pd.array(rng.integers(-4, 30, n), dtype="Int64")
    k[rng.random(n) < 0.05] = pd.NA
    x = rng.normal(size=n) * 100
    x[rng.random(n) < 0.1] = np.nan
    y = rng.integers(0, 9, n).astype(float)
    y[rng.random(n) < 0.05] = np.nan
    c = pd.Categorical(rng.choice(["a", "b", "c", None], n), categories=["a", "b", "c", "dd"])
    return pd.DataFrame({"k": k, "c": c, "x": x, "y": y})


AGGS = [("sum", "x"), ("mean", "x"), ("sd", "x"), ("var", "y"), ("min", "y"), ("max", "x"), ("ss", "y"),
        ("median", "x")]
PANDAS = {"sum": "sum", "mean": "mean", "sd": "std", "var": "var", "min": "min", "max": "max", "median": "median"}


def _want(df: pd.DataFrame, by: list[str], na: str) -> pd.DataFrame:
    g = df.assign(c=df["c"].astype(object), k=df["k"].astype("Float64")).groupby(by, dropna=False, sort=True)
    cols = {"nrow": g.size()}
    for agg, c in AGGS:
        if agg == "ss":
            s = g[c].apply(lambda v: float(np.nansum(v.to_numpy(float) ** 2)))
        else:
            s = g[c].agg(PANDAS[agg])
        if na == "all":
            s = s.where(g[c].apply(lambda v: not v.isna().any()))
        cols[f"{agg}_{c}"] = s
    out = pd.DataFrame(cols).reset_index()
    # pandas sorts missing keys last per level; Shoal too, with enum levels in domain order
    return out


@pytest.mark.parametrize("by", [["k"], ["c", "k"], ["k", "c"]])
@pytest.mark.parametrize("na", ["all", "rm"])
def test_group_by_over_many_chunks_matches_pandas_on_every_path(node, monkeypatch, by, na):
    df = _data(3000, 5)
    make_frame(node, df, "gbm", 37)  # 82 chunks
    spec = [{"agg": "nrow"}] + [{"agg": a, "col": c, "na": na} for a, c in AGGS]
    expr = {"op": "group_by", "args": [fr("gbm")], "by": by, "aggs": spec}
    want = _want(df, by, na)
    frames = []
    for pool_min, stream_bytes, block_bytes in ((10**9, 1 << 30, 1 << 20), (0, 1 << 30, 1 << 20), (0, 1 << 30, 0),
                                                (0, 0, 0), (10**9, 0, 0)):
        monkeypatch.setattr(G, "_POOL_MIN", pool_min)
        monkeypatch.setattr(G, "_STREAM_BYTES", stream_bytes)
        monkeypatch.setattr(G, "_BLOCK_BYTES", block_bytes)
        evaluate(node, expr, "gbm_out")
        got = to_pandas(node, "gbm_out")
        frames.append(got)
        assert len(got) == len(want)
        for key in by:
            w = want[key].astype(object).where(want[key].notna(), None).tolist()
            gk = got[key].tolist()
            if key == "k":
                gk = [None if pd.isna(v) else int(v) for v in gk]
                w = [None if v is None else int(v) for v in w]
            assert gk == w, key
        np.testing.assert_array_equal(got["nrow"].to_numpy(), want["nrow"].to_numpy(float))
        names = {"sd": "sdev", "ss": "sumSquares"}
        for agg, c in AGGS:
            g_ = got[f"{names.get(agg, agg)}_{c}"].to_numpy(float)
            w_ = want[f"{agg}_{c}"].to_numpy(float)
            np.testing.assert_array_equal(np.isnan(g_), np.isnan(w_), err_msg=f"{agg}_{c}")
            np.testing.assert_allclose(g_[~np.isnan(w_)], w_[~np.isnan(w_)], rtol=1e-9, atol=1e-9,
                                       err_msg=f"{agg}_{c}")
    for other in frames[1:]:  # every path gives the same bits
        for name in frames[0].columns:
            assert frames[0][name].astype(object).equals(other[name].astype(object)), name


def test_many_keys_take_the_sorted_path_and_match_pandas(node):
    rng = np.random.default_rng(3)
    n = 4000
    df = pd.DataFrame({"a": pd.array(rng.integers(0, 1000, n), dtype="Int64"),
                       "b": pd.array(rng.integers(-10**6, 10**6, n), dtype="Int64"),
                       "c": pd.Categorical(rng.choice(["p", "q", "r"], n)),
                       "v": rng.normal(size=n)})
    df.loc[rng.random(n) < 0.03, "v"] = np.nan
    make_frame(node, df, "gbk", 250)
    r = evaluate(node, {"op": "group_by", "args": [fr("gbk")], "by": ["a", "b", "c"],
                        "aggs": [{"agg": "nrow"}, {"agg": "sum", "col": "v", "na": "rm"}]}, "gbk_out")
    got = to_pandas(node, "gbk_out")
    want = df.assign(c=df["c"].astype(str)).groupby(["a", "b", "c"], sort=True)["v"].agg(["size", "sum"]).reset_index()
    assert r["frame"]["nrow"] == len(want)
    assert got["a"].astype(int).tolist() == want["a"].astype(int).tolist()
    assert got["b"].astype(int).tolist() == want["b"].astype(int).tolist()
    assert got["c"].tolist() == want["c"].tolist()
    np.testing.assert_array_equal(got["nrow"].to_numpy(), want["size"].to_numpy(float))
    np.testing.assert_allclose(got["sum_v"].to_numpy(), want["sum"].to_numpy(float), rtol=1e-12, atol=1e-12)


def _spy_runs(node, monkeypatch) -> list:
    calls = []
    real_run = node.runtime.run

    def spy(task, *a, **kw):
        calls.append(task)
        return real_run(task, *a, **kw)

    monkeypatch.setattr(node.runtime, "run", spy)
    return calls


def _check_k_means(got: pd.DataFrame, df: pd.DataFrame) -> None:
    want = df.groupby("k", dropna=False, sort=True)["x"].agg(["size", "mean"]).reset_index()
    assert [None if pd.isna(v) else int(v) for v in got["k"]] == [None if pd.isna(v) else int(v)
                                                                  for v in want["k"]]
    np.testing.assert_array_equal(got["nrow"].to_numpy(), want["size"].to_numpy(float))
    np.testing.assert_allclose(got["mean_x"].to_numpy(), want["mean"].to_numpy(float), rtol=1e-12)


def test_known_key_ranges_skip_the_range_pass_and_follow_a_replaced_frame(node, monkeypatch):
    spec = [{"agg": "nrow"}, {"agg": "mean", "col": "x", "na": "rm"}]
    expr = {"op": "group_by", "args": [fr("gbr")], "by": ["k"], "aggs": spec}
    calls = _spy_runs(node, monkeypatch)
    # cached rollups of an int column give its range
    df = _data(500, 11)
    df["k"] = df["k"] - 100  # negative keys: the range's low end matters
    make_frame(node, df, "gbr", 13)
    rollups_view(node, "gbr")
    calls.clear()
    evaluate(node, expr, "gbr_a")
    assert "munging.key_range" not in calls and "munging.group_by_codes" in calls
    _check_k_means(to_pandas(node, "gbr_a"), df)
    # without rollups: the first group_by runs the pass, the next reuses its answer
    df2 = _data(400, 12)
    df2["k"] = df2["k"] * 3 + 1000
    make_frame(node, df2, "gbr", 11)  # same key, new data: nothing cached may survive
    calls.clear()
    evaluate(node, expr, "gbr_b")
    assert calls.count("munging.key_range") == 1
    _check_k_means(to_pandas(node, "gbr_b"), df2)
    calls.clear()
    evaluate(node, expr, "gbr_c")
    assert "munging.key_range" not in calls
    pd.testing.assert_frame_equal(to_pandas(node, "gbr_b"), to_pandas(node, "gbr_c"))

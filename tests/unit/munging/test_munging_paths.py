"""The fast paths of group_by, merge and quantile on data big enough to take them (wide key spans,
many chunks, ties, infinities), each checked against pandas / numpy; and the fallbacks they hand
over to (hashing for non-integral keys, gathering for heavily tied quantiles)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shoal_server.munging import evaluate
from shoal_server.munging import reorg

from munging_helpers import fr, make_frame, to_pandas

AGGS = [{"agg": "nrow"}, {"agg": "sum", "col": "x", "na": "rm"}, {"agg": "mean", "col": "x", "na": "rm"},
        {"agg": "sd", "col": "x", "na": "rm"}, {"agg": "min", "col": "x", "na": "rm"},
        {"agg": "max", "col": "x", "na": "rm"}, {"agg": "median", "col": "x", "na": "rm"}]


def _frame(n: int, span: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k = rng.integers(-span, span, n)
    x = rng.normal(size=n).round(3)
    x[rng.random(n) < 0.05] = np.nan
    kk = pd.array(k, dtype="Int64")
    kk[rng.random(n) < 0.03] = pd.NA
    c = pd.Categorical.from_codes(rng.integers(0, 7, n), list("abcdefg"))
    return pd.DataFrame({"k": kk, "c": c, "x": x, "r": rng.integers(0, 50, n) / 4})


def _expect(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    g = df.groupby(by, dropna=False, sort=True, observed=True)["x"]
    out = pd.DataFrame({"nrow": g.size(), "sum_x": g.sum(), "mean_x": g.mean(), "sdev_x": g.std(),
                        "min_x": g.min(), "max_x": g.max(), "median_x": g.median()}).reset_index()
    return out


@pytest.mark.parametrize("span,by", [(10**9, ["k"]), (10**9, ["c", "k"]), (40, ["k", "c"]), (40, ["r"]),
                                     (40, ["r", "k"])])
def test_group_by_wide_and_narrow_key_spans_match_pandas(node, span, by):
    """span 1e9: the per-chunk sort and sorted-merge paths; span 40: direct addressing; ``r``
    (quarter steps) is not integral: the hashing path."""
    df = _frame(3000, span, seed=span + len(by))
    make_frame(node, df, "paths", 257)
    evaluate(node, {"op": "group_by", "args": [fr("paths")], "by": by, "aggs": AGGS}, "paths_g")
    got = to_pandas(node, "paths_g")
    want = _expect(df, by)
    assert len(got) == len(want)
    for q, b in enumerate(by):
        w = want[b].astype(object).where(want[b].notna(), None).tolist()
        g = got[b].tolist()
        if df[b].dtype.name == "category":
            assert g == [None if v is None else str(v) for v in w]
        else:
            np.testing.assert_array_equal(np.asarray(g, float), np.asarray([np.nan if v is None else v for v in w],
                                                                            float))
    for c in ["nrow", "sum_x", "mean_x", "sdev_x", "min_x", "max_x", "median_x"]:
        np.testing.assert_allclose(got[c].to_numpy(float), want[c].to_numpy(float), rtol=1e-9, atol=1e-9,
                                   err_msg=c)


@pytest.mark.parametrize("span", [10**9, 300])
@pytest.mark.parametrize("how", [(False, False), (True, False), (False, True), (True, True)])
def test_merge_on_int_keys_matches_pandas_order_and_rows(node, span, how):
    rng = np.random.default_rng(span)
    kx = rng.integers(0, span, 2000) if span < 10**6 else rng.choice(rng.integers(0, span, 400), 2000)
    ky = np.concatenate([rng.choice(kx, 150), rng.integers(0, span, 50)])
    x = pd.DataFrame({"k": pd.array(kx, dtype="Int64"), "a": np.arange(2000, dtype=float)})
    y = pd.DataFrame({"k": pd.array(ky, dtype="Int64"), "b": np.arange(len(ky), dtype=float)})
    x.loc[5, "k"] = pd.NA
    y.loc[7, "k"] = pd.NA
    make_frame(node, x, "mx", 333)
    make_frame(node, y, "my", 41)
    all_x, all_y = how
    evaluate(node, {"op": "merge", "args": [fr("mx"), fr("my")], "all_x": all_x, "all_y": all_y}, "mxy")
    got = to_pandas(node, "mxy")
    # expectation: x's rows in order, each with its matches in y's order; then y's unmatched rows
    rows = []
    for i, k in enumerate(kx):
        m = [] if i == 5 else [j for j in range(len(ky)) if j != 7 and ky[j] == k]
        rows += [(k, float(i), float(j)) for j in m] or ([(np.nan if i == 5 else k, float(i), np.nan)] if all_x else [])
    if all_y:
        hit = {j for _k, _a, j in rows if j == j}
        rows += [(np.nan if j == 7 else ky[j], np.nan, float(j)) for j in range(len(ky)) if j not in hit]
    want = np.array(rows, float).reshape(-1, 3)
    np.testing.assert_array_equal(got[["k", "a", "b"]].to_numpy(float), want)


def _quantile(node, x: np.ndarray, probs, key: str, chunk_rows: int = 999) -> np.ndarray:
    make_frame(node, pd.DataFrame({"x": x}), key, chunk_rows)
    evaluate(node, {"op": "quantile", "args": [fr(key)], "probs": probs}, key + "_q")
    return to_pandas(node, key + "_q")["xQuantiles"].to_numpy(float)


PROBS = [0.0, 0.001, 0.01, 0.1, 0.25, 0.333, 0.5, 0.667, 0.75, 0.9, 0.99, 0.999, 1.0]


def test_quantile_distributed_equals_numpy_bit_for_bit(node):
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(size=20000) * 1e3, rng.integers(-5, 5, 5000).astype(float),
                        [np.inf, -np.inf, 1e300, -1e300, 0.0, -0.0], np.full(300, np.nan)])
    rng.shuffle(x)
    got = _quantile(node, x, PROBS, "qdist")
    want = np.quantile(x[~np.isnan(x)], PROBS)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(got[ok], want[ok])


def test_quantile_gathers_when_wanted_bins_are_too_full(node, monkeypatch):
    x = np.concatenate([np.full(5000, 2.5), np.arange(100, dtype=float)])
    monkeypatch.setattr(reorg, "QUANTILE_MAX_GATHER", 10)
    called = []
    real = reorg.quantiles
    monkeypatch.setattr(reorg, "quantiles", lambda *a, **k: called.append(1) or real(*a, **k))
    got = _quantile(node, x, [0.1, 0.5, 0.99], "qtie")
    assert called  # the fallback ran
    np.testing.assert_array_equal(got, np.quantile(x, [0.1, 0.5, 0.99]))


def test_quantile_of_constant_and_all_missing_columns(node):
    np.testing.assert_array_equal(_quantile(node, np.full(3000, 7.0), [0.2, 0.9], "qc"), [7.0, 7.0])
    assert np.isnan(_quantile(node, np.full(50, np.nan), [0.5], "qn")).all()

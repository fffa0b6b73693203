"""group_by reading keys and values straight from the encoded chunks (``group_by._source`` and the
``kernels.source_*`` kernels): the same bits as decoding to float64 first, for every codec read
directly, and the same answer as pandas on each group-id path (codes as ids, direct addressing,
sort)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shoal_server.munging import evaluate
from shoal_server.munging import kernels as K
from shoal_server.munging.chunkeval import ChunkEnv
from shoal_server.munging.group_by import _source
from shoal_server.store import codecs

from munging_helpers import fr, make_frame, to_pandas

RNG = np.random.default_rng(7)


def _with_missing(v: np.ndarray, frac: float = 0.1) -> np.ndarray:
    v = v.astype(float)
    v[RNG.random(len(v)) < frac] = np.nan
    return v


#: column data -> the codec (and buffer dtype) its chunks get; NaN = missing.
CASES = {
    "int_u8": (lambda n: pd.array(_with_missing(RNG.integers(-5, 50, n)), dtype="Int64"), "biased_int", np.uint8),
    "int_u16": (lambda n: pd.array(_with_missing(RNG.integers(0, 60_000, n)), dtype="Int64"), "biased_int", np.uint16),
    "int_u32": (lambda n: pd.array(_with_missing(RNG.integers(-10**8, 10**8, n)), dtype="Int64"), "biased_int",
                np.uint32),
    "real_integral": (lambda n: _with_missing(RNG.integers(0, 9, n)), "biased_int", np.uint8),
    "decimal": (lambda n: _with_missing(np.round(RNG.random(n) * 100, 3)), "scaled_decimal", None),
    "float64": (lambda n: _with_missing(RNG.standard_normal(n) * 1e3), "float64", np.float64),
    "enum_u8": (lambda n: pd.Categorical(RNG.choice(["a", "b", "c", None], n)), "categorical", np.uint8),
    "enum_u16": (lambda n: pd.Categorical([None if i % 11 == 0 else f"l{v}" for i, v in
                                           enumerate(RNG.integers(0, 400, n))]), "categorical", np.uint16),
    "enum_i32": (lambda n: pd.Categorical([None if i % 97 == 0 else f"l{i}" for i in range(n)]),
                 "categorical", np.int32),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_source_kernels_match_decoding(node, case):
    """Every codec read directly: the value statistics, key codes and key range are bit for bit what
    the float64 kernels give on the decoded column (the kernels' contract)."""
    make_col, codec, dtype = CASES[case]
    n = 80_000 if case == "enum_i32" else 5_000
    df = pd.DataFrame({"x": make_col(n)})
    h = make_frame(node, df, "src", chunk_rows=n)
    ch = node.chunks.get("src", 0, 0)
    assert ch.codec == codec and (dtype is None or ch.buffers[0].dtype == dtype), (ch.codec, ch.buffers[0].dtype)
    env = ChunkEnv(node.chunks, 0, n, 0)
    plan = ["ref", "src", 0, h.columns[0].type.value]
    src = _source(plan, env)
    assert src[1] != K.SRC_FLOAT or codec == "float64"  # read from the buffer, not decoded
    x = codecs.decode_float64(ch)
    assert np.isnan(x).any()

    # key range
    want_r, got_r = np.array([np.inf, -np.inf, 0.0, 0.0]), np.array([np.inf, -np.inf, 0.0, 0.0])
    K.key_range(x, want_r)
    K.source_key_range(*src, got_r)
    np.testing.assert_array_equal(got_r, want_r)

    # key codes (integral sources), folded after a first key, with the row counts of the last key
    if want_r[3] == 0:
        lo, radix = want_r[0], int(want_r[1] - want_r[0]) + 2
        first = RNG.integers(0, 3, n).astype(np.float64)
        want = np.empty(n, np.int64)
        K.composite_keys(np.vstack([first, x]), np.array([0.0, lo]), np.array([3, radix], np.int64), want)
        got = first.astype(np.int64)
        counted = 3 * radix <= 1 << 20  # (the row counts are per code: only for small spans)
        rows = np.zeros(3 * radix if counted else 0, np.int64)
        K.source_key_codes(*src, lo, radix, False, got, rows)
        np.testing.assert_array_equal(got, want)
        if counted:
            np.testing.assert_array_equal(rows, np.bincount(want, minlength=3 * radix))

    # value statistics: every statistic, against group_stats on the decoded values
    if case != "enum_i32":
        gid = RNG.integers(0, 17, n).astype(np.int32)
        lay = np.array([[0, 1, 2, 3, 4]], np.int64)
        want_i, want_f = np.empty((3, 17), np.int64), np.empty((5, 17))
        K.group_stats(gid.astype(np.int64), 17, x.reshape(1, -1), lay, want_i, want_f)
        got_i, got_f = np.empty((3, 17), np.int64), np.empty((5, 17))
        got_i[0] = np.bincount(gid, minlength=17)
        K.source_group_stats(gid, 17, *src, lay[0], 0, got_i, got_f)
        np.testing.assert_array_equal(got_i, want_i)
        np.testing.assert_array_equal(got_f, want_f)  # same values, same order: the same bits


def _pandas_group(df: pd.DataFrame, keys: list, x: str) -> pd.DataFrame:
    g = df.groupby(keys, dropna=False, sort=True)[x]
    out = pd.DataFrame({"nrow": g.size(), "sum": g.sum(min_count=0), "mean": g.mean(), "min": g.min(),
                        "max": g.max(), "sd": g.std()}).reset_index()
    return out


@pytest.mark.parametrize("path,key_hi,chunk_rows", [("codes as ids", 40, 2_000), ("direct addressing", 6_000, 2_000),
                                                    ("sort", 10**6, 2_000), ("codes as ids, tiny chunks", 30, 7)])
def test_group_id_paths_match_pandas(node, path, key_hi, chunk_rows):
    """The three ways a chunk gets its group ids (``GroupByCodes.map``: the codes themselves when the
    span is at most the chunk's rows or 4096, direct addressing up to 4x the rows, else a sort) agree
    with pandas, with missing keys and values, two keys, and values of several codecs."""
    n = 9_000
    k = _with_missing(RNG.integers(0, key_hi, n), 0.05)
    df = pd.DataFrame({"k": pd.array(k, dtype="Int64"),
                       "e": pd.Categorical(RNG.choice(["u", "v", None], n)),
                       "xi": pd.array(_with_missing(RNG.integers(0, 30, n)), dtype="Int64"),
                       "xd": _with_missing(np.round(RNG.random(n) * 10, 2)),
                       "xf": _with_missing(RNG.standard_normal(n))})
    make_frame(node, df, "paths", chunk_rows)
    for keys in (["k"], ["e", "k"]):
        for x in ("xi", "xd", "xf"):
            aggs = [{"agg": "nrow"}] + [{"agg": a, "col": x, "na": "rm"} for a in ("sum", "mean", "min", "max", "sd")]
            evaluate(node, {"op": "group_by", "args": [fr("paths")], "by": keys, "aggs": aggs}, "paths_out")
            got = to_pandas(node, "paths_out")
            pdf = df.copy()
            pdf["k"] = pdf["k"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            pdf[x] = pdf[x].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            want = _pandas_group(pdf, keys, x)
            assert len(got) == len(want), (path, keys, x)
            if "e" in keys:
                np.testing.assert_array_equal(got["e"].fillna("<NA>").to_numpy(),
                                              want["e"].astype(object).fillna("<NA>").to_numpy())
            np.testing.assert_array_equal(np.isnan(got["k"].to_numpy(float)), np.isnan(want["k"].to_numpy(float)))
            np.testing.assert_array_equal(np.nan_to_num(got["k"].to_numpy(float), nan=-1),
                                          np.nan_to_num(want["k"].to_numpy(float), nan=-1))
            np.testing.assert_array_equal(got["nrow"].to_numpy(float), want["nrow"].to_numpy(float))
            for a, col in (("sum", f"sum_{x}"), ("mean", f"mean_{x}"), ("min", f"min_{x}"), ("max", f"max_{x}"),
                           ("sd", f"sdev_{x}")):
                g, w = got[col].to_numpy(float), want[a].to_numpy(float)
                if a == "sum":  # a group of only missing values: pandas 0, H2O-style na=rm gives 0 too
                    w = np.where(np.isnan(w), 0.0, w)
                np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"{path} {keys} {x} {a}")
                np.testing.assert_allclose(g[~np.isnan(w)], w[~np.isnan(w)], rtol=1e-9, atol=1e-9,
                                           err_msg=f"{path} {keys} {x} {a}")

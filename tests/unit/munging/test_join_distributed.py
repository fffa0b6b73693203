"""The distributed merge (``munging/join.py``): equal to pandas.merge up to row order (missing keys
never match), bit-identical to the gathering path (same row order, types and domains), on one
node and on three nodes with tiny chunks; direct-addressed and hashed key codes; text and
non-integral keys still take the gathering path."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import shoal_server.munging.join as J
import shoal_server.munging.reorg as R
from shoal_server.munging import evaluate
from shoal_server.munging.frames import gather, store_columns
from shoal_server.munging.values import FrameVal

from fakecluster import fake_cluster
from munging_helpers import fr, make_frame, to_pandas

HOWS = ["inner", "left", "right", "outer"]
KINDS = ["int", "unique", "real_int", "wide", "enum", "two", "nonint", "string"]


# ------------------------------------------------------------------ data
def _keys(rng, kind: str, n: int, side: str) -> dict:
    """Key column(s) named k1 (and k2) of one side."""
    miss = rng.random(n) < 0.15
    if kind in ("int", "two"):
        v = rng.integers(0, 6 if side == "x" else 8, n).astype(float)
        v[miss] = np.nan
        out = {"k1": pd.array([None if np.isnan(a) else int(a) for a in v], dtype="Int64")}
        if kind == "two":
            levels = ["a", "b", "c"] if side == "x" else ["b", "c", "d", "e"]
            c = rng.choice(levels[:3], n).astype(object)
            c[rng.random(n) < 0.1] = None
            out["k2"] = pd.Categorical(c, categories=levels)
        return out
    if kind == "unique":  # right keys unique: one right row per bucket
        if side == "x":
            v = rng.integers(0, 150, n).astype(float)
            v[miss] = np.nan
        else:
            v = rng.choice(200, n, replace=False).astype(float)
            v[rng.random(n) < 0.05] = np.nan
        return {"k1": v}
    if kind == "real_int":
        if side == "x":
            v = rng.integers(-3, 4, n).astype(float)
            v[v == 0] = -0.0
            v[miss] = np.nan
            return {"k1": v}
        v = rng.integers(-3, 6, n).astype(float)
        v[miss] = np.nan
        return {"k1": pd.array([None if np.isnan(a) else int(a) for a in v], dtype="Int64")}
    if kind == "wide":  # a code span far beyond the row count: the hashed path
        v = rng.integers(0, 5, n).astype(float) * 1e12 + rng.integers(0, 2, n)
        v[miss] = np.nan
        return {"k1": v}
    if kind == "enum":
        levels = ["a", "b", "c", "z"] if side == "x" else ["b", "c", "d", "e", "y"]
        c = rng.choice(levels[:4], n).astype(object)
        c[miss] = None
        return {"k1": pd.Categorical(c, categories=levels)}  # x's "z" and y's "y" unused
    if kind == "nonint":
        v = rng.integers(0, 4, n) * 0.5
        v[miss] = np.nan
        return {"k1": v}
    c = rng.choice(["p", "q", "r", "s"], n).astype(object)
    c[miss] = None
    return {"k1": pd.Series(c, dtype=object)}


def _data(seed: int, kind: str, nx: int, ny: int):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(_keys(rng, kind, nx, "x"))
    x["lv"] = np.arange(nx, dtype=float)
    x["ls"] = pd.Series([f"s{i}" if i % 5 else None for i in range(nx)], dtype=object)
    y = pd.DataFrame(_keys(rng, kind, ny, "y"))
    y["rv"] = pd.array([i * 10 if i % 4 else None for i in range(ny)], dtype="Int64")
    y["rc"] = pd.Categorical(rng.choice(["u", "w"], ny))
    y["rs"] = pd.Series([f"t{i}" for i in range(ny)], dtype=object)
    return x, y


def _pandas_merge(x: pd.DataFrame, y: pd.DataFrame, how: str) -> list:
    """pandas.merge with missing keys made unique on each side (so they never match), as sorted rows."""
    keys = [c for c in x.columns if c.startswith("k")]

    def prep(d, tag):
        d = d.copy()
        for k in keys:
            s = d[k]
            if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object:
                vals = s.astype(object).tolist()
                d[k] = pd.Series([f"\0{tag}{i}" if v is None or v != v else v for i, v in enumerate(vals)],
                                 dtype=object)
            else:
                f = s.astype("Float64").to_numpy(float, na_value=np.nan) + 0.0
                d[k] = np.where(np.isnan(f), -1e15 * (1 if tag == "x" else 2) - np.arange(len(f)), f)
        for c in d.columns:
            if c not in keys:
                d[c] = d[c].astype(object)
        return d

    m = pd.merge(prep(x, "x"), prep(y, "y"), on=keys, how=how)
    return _rows(m, keys)


def _rows(d: pd.DataFrame, keys: list) -> list:
    def norm(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return None
        if isinstance(v, str):
            return None if v.startswith("\0") else v
        f = float(v)
        return None if f <= -1e15 else f + 0.0  # -0.0 and 0.0 are one key

    cols = keys + ["lv", "ls", "rv", "rc", "rs"]
    out = [tuple(norm(v) for v in row) for row in zip(*[d[c].astype(object).tolist() for c in cols])]
    return sorted(out, key=lambda t: tuple((v is None, str(v)) for v in t))


def _merge_expr(how: str, keys: list) -> dict:
    return {"op": "merge", "args": [fr("jx"), fr("jy")], "by_x": keys, "by_y": keys,
            "all_x": how in ("left", "outer"), "all_y": how in ("right", "outer")}


def _read(node, key):
    h = node.catalog.get(key)
    return h, gather(node, h, FrameVal.of(h).cols)


def _same_bits(a, b) -> None:
    (ha, ca), (hb, cb) = a, b
    assert ha.names == hb.names and ha.nrow == hb.nrow
    for x, y in zip(ca, cb):
        assert x.header == y.header, (x.header, y.header)
        if x.type == "string":  # the same texts where present (a missing value's bytes do not matter)
            assert np.array_equal(x.na, y.na)

            def texts(c):
                o, d = c.values
                return [bytes(d[o[i]:o[i + 1]]) for i in range(len(c.na)) if not c.na[i]]
            assert texts(x) == texts(y)
        else:
            assert np.array_equal(x.values, y.values, equal_nan=x.type == "real"), x.header.name
            if x.na is not None:
                assert np.array_equal(x.na, y.na)


def _gathered_only(monkeypatch):
    monkeypatch.setattr(R, "distributed_merge", lambda *a, **k: None)


def _fast_only(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the gathering path ran")
    monkeypatch.setattr(R, "_merge_gathered", refuse)


# ------------------------------------------------------------------ one node
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("seed,nx,ny,rows", [(1, 40, 25, 3), (2, 17, 60, 7), (3, 0, 9, 2), (4, 12, 0, 5),
                                             (5, 90, 90, 1000)])
def test_merge_equals_pandas_and_the_gathering_path(node, monkeypatch, kind, how, seed, nx, ny, rows):
    x, y = _data(seed * 7 + KINDS.index(kind), kind, nx, ny)
    if seed % 2:  # the right side's payload travels decoded (as for large right sides)
        monkeypatch.setattr(J, "ENCODED_RIGHT_ROWS", 0)
    make_frame(node, x, "jx", rows)
    make_frame(node, y, "jy", max(1, rows - 1))
    keys = [c for c in x.columns if c.startswith("k")]
    with monkeypatch.context() as mp:
        if kind not in ("nonint", "string"):
            _fast_only(mp)
        r = evaluate(node, _merge_expr(how, keys), "j_fast")
    assert r["frame"]["names"] == keys + ["lv", "ls", "rv", "rc", "rs"]
    got = to_pandas(node, "j_fast")
    assert _rows(got, keys) == _pandas_merge(x, y, how)
    with monkeypatch.context() as mp:
        _gathered_only(mp)
        evaluate(node, _merge_expr(how, keys), "j_slow")
    _same_bits(_read(node, "j_fast"), _read(node, "j_slow"))


def test_hashed_and_dense_buckets_are_both_used():
    J.warm_up()  # every kernel compiles on tiny inputs
    wide = J.build_side([np.array([0.0, 1e12, np.nan, 1e12])], 4)
    assert wide.hashed and wide.nbuckets == 2
    dense = J.build_side([np.array([3.0, 5.0, np.nan, 3.0])], 4)
    assert not dense.hashed and dense.nbuckets == 3  # codes 0..2 for values 3..5
    assert J.build_side([np.array([0.5])], 1) is None
    uniq = J.build_side([np.array([7.0, 2.0, np.nan, 4.0])], 4)
    assert uniq.row_of is not None and uniq.row_of.tolist() == [1, -1, 3, -1, -1, 0]
    li, ri = J.probe_unique(np.array([5, 0, -1, 1, 2], np.int64), uniq.row_of, False)
    assert li.tolist() == [0, 1, 4] and ri.tolist() == [0, 1, 3]
    assert wide.row_of is None and dense.row_of is None
    # the probe finds the same right rows either way, in right order
    for side in (wide, dense):
        probe = np.array([0.0, 1e12, 3.0, 5.0, 4.0, np.nan, 2.0])[None, :]
        codes = np.empty(probe.shape[1], np.int64)
        J.tuple_codes(probe, side.los, side.his, side.mult, codes)
        b = np.empty(len(codes), np.int64)
        J.codes_to_buckets(codes, side.hashed, side.slots, side.ids, b)
        li, ri = J.probe_pairs(b, side.start, side.rows, True)
        pairs = list(zip(li.tolist(), ri.tolist()))
        if side is wide:
            assert pairs == [(0, 0), (1, 1), (1, 3), (2, -1), (3, -1), (4, -1), (5, -1), (6, -1)]
        else:
            assert pairs == [(0, -1), (1, -1), (2, 0), (2, 3), (3, 1), (4, -1), (5, -1), (6, -1)]


def test_merge_of_computed_left_columns_and_clashing_names(node, monkeypatch):
    x = pd.DataFrame({"k": pd.array([1, 2, 2, None, 3], dtype="Int64"), "v": [1.0, 2.0, 3.0, 4.0, 5.0]})
    y = pd.DataFrame({"k": [2.0, 3.0, 3.0, 7.0], "v": [20.0, 30.0, 31.0, 70.0]})
    make_frame(node, x, "cx", 2)
    make_frame(node, y, "cy", 3)
    doubled = {"op": "assign", "args": [fr("cx"), {"op": "*", "args": [{"op": "col", "frame": "cx", "name": "v"}, 2]}],
               "name": "v"}
    with monkeypatch.context() as mp:
        _fast_only(mp)
        r = evaluate(node, {"op": "merge", "args": [doubled, fr("cy")], "by_x": "k", "by_y": "k",
                                  "all_y": True}, "c_out")
    assert r["frame"]["names"] == ["k", "v", "v_2"] and r["frame"]["types"][0] == "real"
    got = to_pandas(node, "c_out")
    assert list(zip(got["k"].tolist(), got["v"].fillna(-1).tolist(), got["v_2"].tolist())) == [
        (2.0, 4.0, 20.0), (2.0, 6.0, 20.0), (3.0, 10.0, 30.0), (3.0, 10.0, 31.0), (7.0, -1.0, 70.0)]


# ------------------------------------------------------------------ three nodes
@pytest.fixture(scope="module")
def three():
    with fake_cluster(3, 61000) as nodes:
        yield nodes


@pytest.mark.parametrize("kind", ["int", "unique", "wide", "enum", "two"])
@pytest.mark.parametrize("how", HOWS)
def test_three_nodes_tiny_chunks_give_the_same_bits_as_one_node(node, three, monkeypatch, kind, how):
    x, y = _data(11 + KINDS.index(kind), kind, 70, 45)
    make_frame(node, x, "raw_x", 1000)
    make_frame(node, y, "raw_y", 1000)
    for src, key, rows in (("raw_x", "jx", 4), ("raw_y", "jy", 3)):
        h = node.catalog.get(src)
        cols = gather(node, h, FrameVal.of(h).cols)
        store_columns(node, key, cols, chunk_rows=rows)
        store_columns(three[0], key, cols, chunk_rows=rows)
    keys = [c for c in x.columns if c.startswith("k")]
    _fast_only(monkeypatch)
    monkeypatch.setattr(J, "ENCODED_RIGHT_ROWS", 0 if kind in ("int", "enum") else J.ENCODED_RIGHT_ROWS)
    evaluate(node, _merge_expr(how, keys), "j1")
    evaluate(three[1], _merge_expr(how, keys), "j3")  # coordinated by another node than the data's builder
    _same_bits(_read(node, "j1"), _read(three[2], "j3"))
    h3 = three[0].catalog.get("j3")
    assert h3.nchunks >= 18  # the left side's 18 chunks (plus the right-only rows' chunk)
    for n in three:
        assert not [k for k in n.chunks.frame_keys() if "staging" in k]
    assert _rows(to_pandas(three[2], "j3"), keys) == _pandas_merge(x, y, how)

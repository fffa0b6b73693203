"""Rollups through the task runtime, against numpy/pandas, independent of the chunking."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shoal_server.config import NodeConfig
from shoal_server.node import Node
from shoal_server.store import codecs
from shoal_server.store.builder import FrameBuilder
from shoal_server.store.frame import ColumnHeader
from shoal_server.store.rollups import chunk_summary, compute_rollups


@pytest.fixture(scope="module")
def lnode():
    n = Node(NodeConfig(threads=2, memory_budget=256 << 20))
    yield n
    n.close()


def make_frame(lnode, key, columns, data, na, chunk_rows):
    """``data``/``na``: per column full arrays; chunks cut every ``chunk_rows`` rows."""
    nrow = len(data[0])
    with FrameBuilder.for_node(lnode, key, columns) as b:
        for i, s in enumerate(range(0, nrow, chunk_rows)):
            e = min(nrow, s + chunk_rows)
            b.add_row(i, [codecs.encode(c.type, d[s:e], None if m is None else m[s:e])
                          for c, d, m in zip(columns, data, na)])
        return b.commit()


def random_data(seed=7, n=5003):
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 3, n)
    x[rng.random(n) < 0.1] = np.nan
    x[rng.random(n) < 0.05] = 0.0
    ints = rng.integers(-1000, 1000, n)
    ints_na = rng.random(n) < 0.2
    dec = np.round(rng.random(n) * 50, 2)
    flag = rng.integers(0, 2, n)
    cols = [ColumnHeader("x", "real"), ColumnHeader("i", "int"), ColumnHeader("d", "real"),
            ColumnHeader("b", "bool")]
    return cols, [x, ints, dec, flag], [None, ints_na, None, None]


def test_rollups_match_pandas(lnode):
    cols, data, na = random_data()
    make_frame(lnode, "r1", cols, data, na, 700)
    r = compute_rollups(lnode, "r1")
    json.dumps(r, allow_nan=False)
    x = pd.Series(data[0])
    ints = pd.Series(np.where(na[1], np.nan, data[1]))
    for got, s in ((r[0], x), (r[1], ints), (r[2], pd.Series(data[2])), (r[3], pd.Series(data[3]))):
        assert got["mean"] == pytest.approx(s.mean(), rel=1e-12)
        assert got["sd"] == pytest.approx(s.std(ddof=1), rel=1e-12)
        assert got["min"] == s.min() and got["max"] == s.max()
        assert got["missing_count"] == s.isna().sum()
        assert got["zero_count"] == (s == 0).sum()
        assert got["nonmissing_count"] == s.notna().sum()
        assert sum(got["histogram"]["counts"]) == s.notna().sum()
    assert isinstance(r[1]["min"], int) and r[0]["cardinality"] is None
    # 20 equal-width bins over [min, max], as numpy's histogram draws them
    counts, edges = np.histogram(x.dropna(), bins=20, range=(x.min(), x.max()))
    assert r[0]["histogram"]["counts"] == counts.tolist()
    np.testing.assert_allclose(r[0]["histogram"]["breaks"], edges, rtol=1e-12)
    assert r[3]["histogram"] == {"breaks": [0.0, 1.0, 2.0], "counts": np.bincount(data[3]).tolist()}


def test_rollups_do_not_depend_on_chunking(lnode):
    cols, data, na = random_data(seed=11)
    a = compute_rollups(lnode, make_frame(lnode, "c1", cols, data, na, 5003).key)
    b = compute_rollups(lnode, make_frame(lnode, "c2", cols, data, na, 333).key)
    c = compute_rollups(lnode, make_frame(lnode, "c3", cols, data, na, 1024).key)
    for ra, rb, rc in zip(a, b, c):
        for key in ("min", "max", "missing_count", "zero_count", "nonmissing_count", "histogram"):
            assert ra[key] == rb[key] == rc[key], key
        assert rb["mean"] == pytest.approx(ra["mean"], rel=1e-12, abs=1e-12)
        assert rc["sd"] == pytest.approx(ra["sd"], rel=1e-12)


def test_infinities_enum_string_and_all_missing(lnode):
    x = np.array([1.0, np.inf, -np.inf, np.nan, 3.0, -0.0])
    codes = np.array([0, 2, 2, -1, 1, 2], dtype=np.int32)
    words = [b"a", b"bb", b"", b"c", b"", b"d"]
    offsets = np.cumsum([0] + [len(w) for w in words])
    s_na = np.array([False, False, True, False, True, False])
    empty = np.full(6, np.nan)
    big = np.array([2**62, 2**62 + 5, 7, 7, 7, 7])
    cols = [ColumnHeader("x", "real"), ColumnHeader("e", "enum", ["lo", "mid", "hi"]),
            ColumnHeader("s", "string"), ColumnHeader("m", "real"), ColumnHeader("big", "int")]
    nrow = 6
    with FrameBuilder.for_node(lnode, "special", cols) as bld:
        for i, (s, e) in enumerate(((0, 4), (4, 6))):
            bld.add_row(i, [codecs.encode("real", x[s:e]), codecs.encode("enum", codes[s:e]),
                            codecs.encode("string", (offsets[s:e + 1], np.frombuffer(b"".join(words), np.uint8)),
                                          s_na[s:e]),
                            codecs.encode("real", empty[s:e]), codecs.encode("int", big[s:e])])
        bld.commit()
    r = compute_rollups(lnode, "special")
    json.dumps(r, allow_nan=False)
    rx = r[0]
    assert (rx["min"], rx["max"], rx["pinf_count"], rx["ninf_count"]) == (-0.0, 3.0, 1, 1)
    assert rx["mean"] == pytest.approx(4.0 / 3) and rx["missing_count"] == 1 and rx["zero_count"] == 1
    assert r[1]["histogram"] == {"levels": ["lo", "mid", "hi"], "counts": [1, 1, 3]}
    assert r[1]["cardinality"] == 3 and r[1]["missing_count"] == 1 and r[1]["mean"] is None
    assert r[2]["missing_count"] == 2 and r[2]["histogram"] is None
    assert r[3]["missing_count"] == nrow and r[3]["mean"] is None and r[3]["sd"] is None
    assert r[3]["histogram"] is None
    assert (r[4]["min"], r[4]["max"]) == (7, 2**62 + 5)   # exact beyond 2**53


def test_rollups_are_cached_until_the_frame_goes(lnode):
    cols, data, na = random_data(seed=3, n=500)
    make_frame(lnode, "cache", cols, data, na, 100)
    first = compute_rollups(lnode, "cache")
    assert lnode.catalog.derived("cache")["rollups"] == first
    first[0]["mean"] = "mutated"                       # callers get copies
    assert compute_rollups(lnode, "cache")[0]["mean"] != "mutated"
    lnode.catalog.remove("cache")
    lnode.chunks.remove_frame("cache")
    cols2, data2, na2 = random_data(seed=4, n=500)
    make_frame(lnode, "cache", cols2, data2, na2, 100)
    assert compute_rollups(lnode, "cache")[0]["mean"] == pytest.approx(np.nanmean(data2[0]), rel=1e-12)


def test_chunk_summary_reports_codecs_nodes_and_sizes(lnode):
    n = 1000
    cols = [ColumnHeader("z", "real"), ColumnHeader("k", "int")]
    data = [np.zeros(n), np.arange(n) % 200]
    h = make_frame(lnode, "summ", cols, data, [None, None], 400)
    s = chunk_summary(lnode, "summ")
    assert s["codecs"] == [{"codec": "biased_int", "chunks": 3, "bytes": n},
                           {"codec": "constant", "chunks": 3, "bytes": 0}]
    assert s["nodes"] == [{"node": lnode.self_id, "chunks": 3, "rows": n, "bytes": n}]
    assert (s["compressed_bytes"], s["raw_bytes"]) == (n, 16 * n) and s["nchunks"] == h.nchunks == 3


def test_store_warm_registers_the_rollup_tasks():
    import shoal_server.store as store
    from shoal_server.tasks import task_names

    store.warm()
    assert {"rollups.moments", "rollups.histogram", "rollups.chunk_codecs"} <= set(task_names())


def test_huge_range_histogram_stays_finite(lnode):
    v = np.array([-1e308, 0.0, 1e308, 5.0])
    make_frame(lnode, "huge", [ColumnHeader("v", "real")], [v], [None], 2)
    r = compute_rollups(lnode, "huge")[0]
    assert r["histogram"]["counts"][0] == 1 and r["histogram"]["counts"][-1] == 1
    assert sum(r["histogram"]["counts"]) == 4 and r["min"] == -1e308 and r["max"] == 1e308
    json.dumps(r, allow_nan=False)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hnp.arrays(np.float64, st.integers(1, 120),
                  elements=st.floats(-1e6, 1e6) | st.just(np.nan) | st.just(0.0)),
       st.integers(1, 50))
def test_rollups_agree_with_numpy_for_any_chunking(lnode, values, chunk_rows):
    key = lnode.catalog.new_key("hyp")
    make_frame(lnode, key, [ColumnHeader("v", "real")], [values], [None], chunk_rows)
    r = compute_rollups(lnode, key)[0]
    finite = values[~np.isnan(values)]
    assert r["missing_count"] == len(values) - len(finite)
    assert r["zero_count"] == int((finite == 0).sum())
    if len(finite):
        assert (r["min"], r["max"]) == (finite.min(), finite.max())
        assert r["mean"] == pytest.approx(finite.mean(), rel=1e-9, abs=1e-9)
        assert sum(r["histogram"]["counts"]) == len(finite)
    else:
        assert r["mean"] is None and r["histogram"] is None
    if len(finite) > 1:
        assert r["sd"] == pytest.approx(finite.std(ddof=1), rel=1e-9, abs=1e-9)
    lnode.catalog.remove(key)
    lnode.chunks.remove_frame(key)

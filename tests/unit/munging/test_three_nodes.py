"""Three in-process nodes joined by a fake cluster view (params and partials round-trip through the
cluster's msgpack partial codec): every operation gives the same bits as on one node, leaves no
staging chunks, and publishes the result header on every node."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shoal_server.config import NodeConfig
from shoal_server.munging import evaluate
from shoal_server.munging.frames import gather, store_columns
from shoal_server.munging.values import FrameVal
from shoal_server.node import Node
from shoal_server.store.layout import home_of

from fakecluster import fake_cluster
from munging_helpers import col, fr, make_frame


@pytest.fixture(scope="module")
def cluster():
    with fake_cluster(3, 60000) as nodes:
        yield nodes


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 200
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({"x": x, "y": rng.integers(-3, 4, n).astype(float),
                         "c": pd.Categorical(rng.choice(["a", "b", "c", None], n)),
                         "s": pd.Series(rng.choice(["p", "q", ""], n), dtype=object)})


def _spread(target: Node, source: Node, src_key: str, key: str, chunk_rows: int):
    h = source.catalog.get(src_key)
    store_columns(target, key, gather(source, h, FrameVal.of(h).cols), chunk_rows=chunk_rows)


def _read(node, key):
    h = node.catalog.get(key)
    return h, gather(node, h, FrameVal.of(h).cols)


EXPRS = {
    "arith": {"op": "cbind", "args": [{"op": "*", "args": [col("d", "x"), col("d", "y")]},
                                      {"op": "==", "args": [col("d", "c"), "b"]},
                                      {"op": "!=", "args": [col("d", "s"), "q"]}]},
    "filter": {"op": "rows", "args": [fr("d"), {"op": ">", "args": [col("d", "x"), 0]}]},
    "index": {"op": "rows", "args": [fr("d")], "select": [199, 3, 3, 150, 0]},
    "group_by": {"op": "group_by", "args": [fr("d")], "by": ["c", "y"],
                 "aggs": [{"agg": "nrow"}, {"agg": "mean", "col": "x", "na": "rm"}, {"agg": "sd", "col": "x"},
                          {"agg": "median", "col": "x", "na": "rm"}]},
    "sort": {"op": "sort", "args": [fr("d")], "by": ["c", "x"], "ascending": [False, True]},
    "merge": {"op": "merge", "args": [fr("d"), {"op": "unique", "args": [col("d", "c")]}], "all_x": True},
    "quantile": {"op": "quantile", "args": [col("d", "x")], "probs": [0.1, 0.5, 0.9]},
    "cumsum": {"op": "cumsum", "args": [col("d", "x")]},
    "split": {"op": "split_frame", "args": [fr("d")], "ratios": [0.6], "seed": 9},
    "rbind": {"op": "rbind", "args": [fr("d"), fr("d")]},
}


def test_one_node_and_three_nodes_give_the_same_bits(cluster):
    df = _data()
    with Node(NodeConfig(threads=2)) as single:
        make_frame(single, df, "raw", 1000)
        _spread(single, single, "raw", "d", 7)
        _spread(cluster[0], single, "raw", "d", 7)
        h3 = cluster[0].catalog.get("d")
        assert len({home_of(i, h3.members) for i in range(h3.nchunks)}) == 3
        for name, expr in EXPRS.items():
            r1 = evaluate(single, expr, name)
            r3 = evaluate(cluster[1], expr, name)  # coordinated by another node than the data's builder
            assert r1["kind"] == r3["kind"], name
            keys = [f["key"] for f in r1["frames"]] if r1["kind"] == "frames" else [name]
            for key in keys:
                (ha, a), (hb, b) = _read(single, key), _read(cluster[2], key)
                assert ha.names == hb.names and ha.nrow == hb.nrow, name
                for ca, cb in zip(a, b):
                    assert ca.header == cb.header, name
                    if ca.type == "string":
                        assert np.array_equal(ca.values[0], cb.values[0]) and np.array_equal(ca.values[1],
                                                                                             cb.values[1])
                    else:
                        assert np.array_equal(ca.values, cb.values, equal_nan=ca.type == "real"), (name, key)
        xy = {"op": "cols", "args": [fr("d")], "select": ["x", "y"]}
        for expr in ({"op": "sd", "args": [xy], "na_rm": True}, {"op": "sum", "args": [col("d", "y")]}):
            assert evaluate(single, expr) == evaluate(cluster[0], expr)
    for n in cluster:
        assert not [k for k in n.chunks.frame_keys() if "staging" in k or k.startswith("tmp_expr")]
        assert not [k for k in n.catalog.keys() if k.startswith("tmp_expr")]
        assert set(EXPRS) - {"split"} <= set(n.catalog.keys())

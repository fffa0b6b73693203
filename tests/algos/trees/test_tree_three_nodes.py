"""Three in-process nodes behind a fake cluster view whose params and partials round-trip through
the cluster's msgpack codec: GBM and DRF give the same model bits as on one node."""
from __future__ import annotations


import numpy as np
import pytest

from shoal_server.algos.drf import train_drf
from shoal_server.algos.gbm import train_gbm
from fakecluster import fake_cluster
from shoal_server.config import NodeConfig
from shoal_server.node import Node
from shoal_server.store.codecs import encode
from shoal_server.store.frame import ColumnHeader, FrameHeader
from shoal_server.store.layout import home_of
from shoal_server.store.types import ColType


@pytest.fixture(scope="module")
def cluster():
    with fake_cluster(3, 62000) as nodes:
        yield nodes


def _spread(nodes, key, columns, chunk_rows):
    """Place chunk i of every column on ``home_of(i, members)`` and publish the header everywhere."""
    members = sorted(n.self_id for n in nodes)
    by_id = {n.self_id: n for n in nodes}
    headers = []
    for name, col in columns.items():
        headers.append(ColumnHeader(name, ColType.ENUM, tuple(col[1])) if isinstance(col, tuple)
                       else ColumnHeader(name, ColType.REAL))
    first = next(iter(columns.values()))
    nrow = len(first[0] if isinstance(first, tuple) else first)
    starts = list(range(0, nrow, chunk_rows)) + [nrow]
    for i in range(len(starts) - 1):
        lo, hi = starts[i], starts[i + 1]
        items = []
        for c, col in enumerate(columns.values()):
            if isinstance(col, tuple):
                items.append((c, i, encode(ColType.ENUM, np.asarray(col[0][lo:hi], np.int32))))
            else:
                part = np.asarray(col[lo:hi], np.float64)
                items.append((c, i, encode(ColType.REAL, part, np.isnan(part))))
        by_id[home_of(i, members)].chunks.put_many(key, items)
    header = FrameHeader(key, tuple(headers), np.asarray(starts, np.int64), tuple(members))
    for n in nodes:
        n.catalog.put(header)


def _columns():
    rng = np.random.default_rng(40)
    n = 1500
    X = rng.normal(size=(n, 3))
    X[rng.random(n) < 0.1, 2] = np.nan
    c = rng.integers(0, 4, n)
    score = X[:, 0] + np.array([0, 1, -1, 0.5])[c] - np.nan_to_num(X[:, 2], nan=1.0)
    yb = (rng.random(n) < 1 / (1 + np.exp(-score))).astype(np.int32)
    ym = np.digitize(score, [-0.5, 0.8]).astype(np.int32)
    return {"x0": X[:, 0], "x1": X[:, 1], "x2": X[:, 2], "c": (c, ("a", "b", "c", "d")),
            "yb": (yb, ("n", "y")), "ym": (ym, ("p", "q", "r")), "yr": score + rng.normal(size=n)}


@pytest.mark.parametrize("algo,y,extra", [
    ("gbm", "yb", {"sample_rate": 0.8, "col_sample_rate": 0.7}),
    ("gbm", "ym", {}),
    ("gbm", "yr", {"distribution": "laplace"}),
    ("drf", "yb", {}),
])
def test_three_nodes_train_the_same_model_as_one(cluster, algo, y, extra):
    cols = _columns()
    key = f"tn_{algo}_{y}"
    _spread(cluster, key, cols, 97)
    single = Node(NodeConfig(threads=2, port=62100))
    try:
        _spread([single], key, cols, 97)
        params = dict(training_frame=key, y=y, x=["x0", "x1", "x2", "c"], ntrees=6, max_depth=4, seed=9, **extra)
        train = train_gbm if algo == "gbm" else train_drf
        three = train(cluster[1], dict(params), model_key="m3")
        one = train(single, dict(params), model_key="m1")
    finally:
        single.close()
    for k in one.arrays:
        assert np.array_equal(one.arrays[k], three.arrays[k]), k
    assert one.output["training_metrics"] == three.output["training_metrics"]
    for n in cluster:   # every node freed its training state
        assert not getattr(n, "_tree_sessions", {})

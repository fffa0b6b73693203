"""Three in-process nodes joined by a fake cluster view whose params and partials round-trip through
the cluster's msgpack partial codec: every metric gives the same bits as one node (and as arrays)."""
from __future__ import annotations


import numpy as np
import pytest

from fakecluster import fake_cluster
from shoal_server.metrics import (binomial_metrics, binomial_metrics_from_arrays, multinomial_metrics,
                                  multinomial_metrics_from_arrays, regression_metrics, regression_metrics_from_arrays)
from shoal_server.store.codecs import encode
from shoal_server.store.frame import ColumnHeader, FrameHeader
from shoal_server.store.layout import home_of
from shoal_server.store.types import ColType


@pytest.fixture(scope="module")
def cluster():
    with fake_cluster(3, 61000) as nodes:
        yield nodes


def _spread(nodes, key, columns, chunk_rows):
    """Place chunk i of every column on ``home_of(i, members)`` and publish the header everywhere."""
    members = sorted(n.self_id for n in nodes)
    by_id = {n.self_id: n for n in nodes}
    headers = []
    for name, col in columns.items():
        if isinstance(col, tuple):
            headers.append(ColumnHeader(name, ColType.ENUM, tuple(col[2])))
        else:
            headers.append(ColumnHeader(name, ColType.REAL))
    nrow = len(next(iter(columns.values()))[1] if isinstance(next(iter(columns.values())), tuple)
               else next(iter(columns.values())))
    starts = list(range(0, nrow, chunk_rows)) + [nrow]
    for i in range(len(starts) - 1):
        items = []
        for c, col in enumerate(columns.values()):
            lo, hi = starts[i], starts[i + 1]
            if isinstance(col, tuple):
                items.append((c, i, encode(ColType.ENUM, np.asarray(col[1][lo:hi], np.int32))))
            else:
                part = np.asarray(col[lo:hi], np.float64)
                items.append((c, i, encode(ColType.REAL, part, np.isnan(part))))
        by_id[home_of(i, members)].chunks.put_many(key, items)
    header = FrameHeader(key, tuple(headers), np.asarray(starts, np.int64), tuple(members))
    for n in nodes:
        n.catalog.put(header)


def test_three_nodes_give_the_same_bits_as_arrays(cluster):
    rng = np.random.default_rng(21)
    n = 700
    y = rng.integers(0, 3, n)
    P = rng.dirichlet(np.ones(3), n)
    w = rng.random(n)
    f = rng.random(n) * 2 + 0.1
    t = rng.poisson(f).astype(float)
    cols = {"y": ("enum", y.astype(np.int32), ["a", "b", "c"]), "b": (y == 1).astype(float), "p0": P[:, 0],
            "p1": P[:, 1], "p2": P[:, 2], "w": w, "f": f, "t": t}
    _spread(cluster, "d", cols, 23)
    coord = cluster[1]
    assert regression_metrics(coord, "d", "t", "f", "w", distribution="poisson") == \
        regression_metrics_from_arrays(t, f, w, distribution="poisson")
    assert binomial_metrics(coord, "d", "b", "p1", "w") == \
        binomial_metrics_from_arrays((y == 1).astype(float), P[:, 1], w)
    assert binomial_metrics(coord, "d", "b", "p1", auc_type="binned", nbins=20)["auc"] is not None
    assert multinomial_metrics(coord, "d", "y", ["p0", "p1", "p2"], "w") == \
        multinomial_metrics_from_arrays(y, P, w, domain=["a", "b", "c"])


def test_three_nodes_read_a_separate_prediction_frame_where_its_chunks_live(cluster):
    rng = np.random.default_rng(22)
    n = 400
    y = (rng.random(n) < 0.4).astype(float)
    p = np.clip(rng.random(n) * 0.6 + 0.3 * y, 0, 1)
    _spread(cluster, "t2", {"y": y}, 17)
    _spread(cluster, "p2", {"p1": p}, 17)
    assert binomial_metrics(cluster[2], "t2", "y", "p1", pred_frame_key="p2") == binomial_metrics_from_arrays(y, p)

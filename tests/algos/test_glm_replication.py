"""The model registry: `model_not_found` for unknown keys, and replication between in-process nodes
through a view whose payloads round-trip through the cluster's msgpack codec (the real multi-process
test is ``tests/cluster/test_cluster_models.py``)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import shoal_server.algos as algos
from shoal_server.algos.common.model import models_of
from shoal_server.algos.common.persist import model_to_bytes
from shoal_server.config import NodeConfig
from shoal_server.errors import ModelNotFound
from shoal_server.node import Node

from algo_helpers import frame_columns, make_frame
from fakecluster import FakeClusterView, wire


class PeerView(FakeClusterView):
    """The fake map transport plus what the model registry uses: self_id and generic ``submit``."""

    def __init__(self, me, nodes, pool, log):
        super().__init__(nodes, pool)
        self.self_id, self.log = me, log

    def submit(self, member, op, payload, timeout=None):
        self.log.append((self.self_id, member, op))
        node, payload = self.nodes[member], wire(payload)
        return self.pool.submit(lambda: wire(node.peer_ops()[op](self.self_id, payload)))


@pytest.fixture
def pair(tmp_path):
    nodes = [Node(NodeConfig(threads=1, port=54001 + i, spool_dir=str(tmp_path / f"s{i}"))) for i in range(2)]
    by_id = {n.self_id: n for n in nodes}
    log = []
    with ThreadPoolExecutor(4) as pool:
        for n in nodes:
            n.cluster = PeerView(n.self_id, by_id, pool, log)
        yield nodes, log
        for n in nodes:
            n.cluster = None
            n.close()


def _data(seed=5, n=400):
    rng = np.random.default_rng(seed)
    x0, x1, g = rng.normal(size=n), rng.normal(size=n), rng.integers(0, 3, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.5 * x0 - x1 + 0.3 * g)))).astype(np.int32)
    return {"x0": x0, "x1": x1, "g": g, "y": y}


def test_get_of_an_unknown_model_raises_model_not_found_naming_the_key(node):
    with pytest.raises(ModelNotFound) as ei:
        models_of(node).get("no_such_model_zz")
    assert ei.value.code == "model_not_found" and ei.value.http_status == 404
    assert "no_such_model_zz" in ei.value.message and ei.value.details == {"key": "no_such_model_zz"}
    with pytest.raises(ModelNotFound):
        algos.predict(node, "no_such_model_zz", "any_frame")


def test_a_model_trained_on_one_node_is_held_scored_and_deleted_on_the_other(pair):
    (a, b), log = pair
    d = _data()
    enums = {"g": ["p", "q", "r"], "y": ["N", "Y"]}
    for n in (a, b):       # the same frame on both (a real cluster spreads it; here each holds it whole)
        n.cluster, view = None, n.cluster
        make_frame(n, "t", d, chunk_rows=64, enums=enums)
        n.cluster = view
    key = algos.train(a, "glm", {"training_frame": "t", "y": "y", "family": "binomial", "lambda_value": 0.0,
                                 "model_id": "rep_glm"})
    ma, mb = algos.get_model(a, key), algos.get_model(b, key)
    assert mb is not ma
    assert model_to_bytes(mb) == model_to_bytes(ma)          # the same saved bytes: same data
    assert np.array_equal(mb.arrays["beta"], ma.arrays["beta"])
    assert algos.export_scorer(mb) == algos.export_scorer(ma)
    # snapshots went to b while a trained, and b dropped the snapshot once the model arrived
    ops = [op for _s, _m, op in log]
    assert "model.building" in ops and ops.count("model.put") == 1
    assert models_of(b).building(key) is None
    # b scores it like a (b's frame is local to b: a's registry is not involved)
    for n in (a, b):
        n.cluster, view = None, n.cluster
        algos.predict(n, key, "t", "pred")
        n.cluster = view
    pa, pb = frame_columns(a, "pred"), frame_columns(b, "pred")
    assert np.array_equal(pa["Y"], pb["Y"])
    # delete on b: gone from a too
    assert algos.remove_model(b, key)
    for n in (a, b):
        with pytest.raises(ModelNotFound):
            algos.get_model(n, key)
        assert key not in algos.list_models(n)


def test_a_stale_snapshot_arriving_after_the_model_is_ignored(pair):
    (a, b), _log = pair
    reg_b = models_of(b)
    put = b.peer_ops()
    d = _data(n=200)
    a.cluster, view = None, a.cluster
    make_frame(a, "t2", d, chunk_rows=64, enums={"g": ["p", "q", "r"], "y": ["N", "Y"]})
    key = algos.train(a, "glm", {"training_frame": "t2", "y": "y", "family": "binomial", "model_id": "m2"})
    a.cluster = view
    data = np.frombuffer(model_to_bytes(algos.get_model(a, key)), np.uint8)
    put["model.building"](a.self_id, wire({"key": key, "seq": 3, "snapshot": {"iterations": 1}}))
    assert reg_b.building(key) == {"iterations": 1}
    put["model.put"](a.self_id, wire({"key": key, "seq": 7, "data": data}))
    assert reg_b.building(key) is None and key in reg_b
    put["model.building"](a.self_id, wire({"key": key, "seq": 5, "snapshot": {"iterations": 2}}))   # late
    assert reg_b.building(key) is None
    # another sender's changes are ordered separately; a removal applies
    put["model.remove"]("other:1", wire({"key": key, "seq": 1}))
    assert key not in reg_b
    # a payload that does not name the saved model's key is refused, not stored under the wrong key
    from shoal_server.errors import InvalidParameter
    with pytest.raises(InvalidParameter):
        put["model.put"](a.self_id, wire({"key": "other_key", "seq": 9, "data": data}))
    assert "other_key" not in reg_b

"""The task runtime over the cluster layer: in-process nodes on loopback sockets, attached like shoal-server.

Each test builds full ``Node`` objects (catalog, chunk store, runtime) with a ``ClusterView`` each,
spreads a frame's chunks by ``home_of`` with ``put_chunks``, replicates the header with
``broadcast_header``, then runs real registered tasks through ``Runtime.run`` and compares with
one node and with numpy.
"""
from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest

from harness import free_port_pair, wait_until
from shoal_server.cluster import ClusterView, attach
from shoal_server.config import NodeConfig
from shoal_server.errors import NodeLost
from shoal_server.node import Node
from shoal_server.store import codecs, rollups  # noqa: F401  (importing registers the rollup tasks)
from shoal_server.store.frame import ColumnHeader, FrameHeader
from shoal_server.store.layout import home_of, starts_from_nrows

pytestmark = pytest.mark.cluster


@contextlib.contextmanager
def nodes(n: int):
    ports = []
    for _ in range(n):
        ports.append(free_port_pair(set(ports) | {p + 1 for p in ports}))
    peers = [f"127.0.0.1:{p}" for p in ports]
    made = []
    try:
        for p in ports:
            cfg = NodeConfig(port=p, peers=peers, threads=1, heartbeat_interval=0.2, heartbeat_timeout=1.5,
                             memory_budget=1 << 28)
            node = Node(cfg)
            view = ClusterView.start(cfg, secret=b"runtime-test")
            attach(node, view)               # what shoal-server's cluster.start(node) does
            made.append(node)
        if n > 1:
            for node in made:
                node.cluster.wait_members(n, timeout=60)
            made[0].cluster.lock()
        yield made
    finally:
        for node in made:
            if node.cluster is not None:
                node.cluster.close()
            node.close()


def columns_data(seed=3, nrows=(40, 1, 77, 0, 33, 64, 9)):
    rng = np.random.default_rng(seed)
    total = sum(nrows)
    x = rng.standard_normal(total) * 1e3
    x[rng.random(total) < 0.1] = np.nan
    k = rng.integers(-50, 50, total)
    return np.asarray(nrows), x, k


def register_frame(coordinator: Node, key: str, nrows, x, k) -> FrameHeader:
    """Encode chunks, send each to its home, replicate the header (how a builder does it)."""
    members = coordinator.cluster.lock() if coordinator.cluster else [coordinator.self_id]
    starts = starts_from_nrows(nrows)
    per_member: dict[str, list] = {}
    for i in range(len(nrows)):
        lo, hi = starts[i], starts[i + 1]
        cx = codecs.encode("real", x[lo:hi], None)
        ck = codecs.encode("int", k[lo:hi].astype(np.int64), None)
        per_member.setdefault(home_of(i, members), []).extend([(0, i, cx), (1, i, ck)])
    for member, items in per_member.items():
        if member == coordinator.self_id:
            coordinator.chunks.put_many(key, items)
        else:
            coordinator.cluster.put_chunks(member, key, items)
    header = FrameHeader(key, (ColumnHeader("x", "real"), ColumnHeader("k", "int")), starts, tuple(members),
                         int(time.time() * 1000))
    if coordinator.cluster:
        coordinator.cluster.broadcast_header(header.to_wire())
    coordinator.catalog.put(header)
    return header


MOMENTS = {"columns": [0, 1], "types": ["real", "int"]}


def test_map_reduce_over_three_nodes_gives_the_same_bits_as_one_node():
    nrows, x, k = columns_data()
    with nodes(1) as (single,):
        register_frame(single, "f", nrows, x, k)
        one = single.runtime.run("rollups.moments", "f", params=MOMENTS)
    with nodes(3) as three:
        header = register_frame(three[0], "f", nrows, x, k)
        # every node holds exactly its home chunks, and every node knows the frame
        for node in three:
            assert node.catalog.get("f") == header
            held = node.chunks.chunk_indices("f")
            assert held == [i for i in range(len(nrows)) if home_of(i, header.members) == node.self_id]
        results = [node.runtime.run("rollups.moments", "f", params=MOMENTS) for node in three]
    for res in results:
        for name in one:
            assert np.asarray(one[name]).tobytes() == np.asarray(res[name]).tobytes(), name
    finite = x[~np.isnan(x)]
    assert results[0]["n"].tolist() == [finite.size, k.size]
    np.testing.assert_allclose(results[0]["mean"], [finite.mean(), k.mean()], rtol=1e-12)
    assert results[0]["missing"].tolist() == [int(np.isnan(x).sum()), 0]


def test_fetch_chunk_brings_a_remote_chunk_bitwise_and_status_reports_every_node():
    nrows, x, k = columns_data(seed=5)
    with nodes(3) as three:
        header = register_frame(three[0], "g", nrows, x, k)
        a = three[0]
        remote = next(i for i in range(len(nrows)) if home_of(i, header.members) != a.self_id)
        home = home_of(remote, header.members)
        chunk = a.cluster.fetch_chunk(home, "g", 0, remote)
        lo, hi = header.starts[remote], header.starts[remote + 1]
        assert codecs.decode_float64(chunk).tobytes() == x[lo:hi].tobytes()
        st = wait_until(lambda: (lambda s: s if all(r["frames"] == 1 for r in s["members"]) else None)(
            a.cluster.status()), timeout=15, what="heartbeats to carry the frame counts")
        assert [r["name"] for r in st["members"]] == sorted(n.self_id for n in three)
        assert st["locked"] and st["healthy"] and st["size"] == 3
        by_id = {r["name"]: r for r in st["members"]}
        for node in three:
            assert by_id[node.self_id]["frame_memory"] == node.chunks.bytes_used > 0
        three[0].cluster.broadcast_remove("g")
        for node in three[1:]:
            assert node.catalog.find("g") is None and node.chunks.bytes_used == 0


def test_a_lost_node_fails_the_task_with_node_lost_naming_it():
    nrows, x, k = columns_data(seed=9)
    with nodes(3) as three:
        header = register_frame(three[0], "h", nrows, x, k)
        victim = three[2]
        victim.cluster.close()                 # silent from now on, like a killed process
        victim.cluster = None
        t0 = time.monotonic()
        with pytest.raises(NodeLost) as err:
            three[0].runtime.run("rollups.moments", "h", params=MOMENTS)
        assert victim.self_id in err.value.message and err.value.details["node"] == victim.self_id
        assert time.monotonic() - t0 < 5.0
        assert victim.self_id in three[1].cluster.lost() or wait_until(
            lambda: victim.self_id in three[1].cluster.lost(), timeout=5, what="loss seen by every survivor")
        assert header.members == tuple(three[0].cluster.members())


def test_put_chunks_splits_large_transfers_into_batches(monkeypatch):
    from shoal_server.cluster import view as view_mod

    monkeypatch.setattr(view_mod, "PUT_BATCH_BYTES", 1000)       # every chunk becomes its own message
    rng = np.random.default_rng(4)
    with nodes(2) as (a, b):
        values = [rng.standard_normal(300) for _ in range(5)]
        items = [(0, i, codecs.encode("real", v, None)) for i, v in enumerate(values)]
        before = a.cluster.counters().get("sent.req:store.put_chunks", 0)
        a.cluster.put_chunks(b.self_id, "p", items)
        assert a.cluster.counters()["sent.req:store.put_chunks"] - before == 5
        for i, v in enumerate(values):
            assert codecs.decode_float64(b.chunks.get("p", 0, i)).tobytes() == v.tobytes()


def test_publish_frame_moves_staged_chunks_on_every_member_and_replicates_the_header():
    nrows, x, k = columns_data(seed=12)
    with nodes(3) as three:
        coord = three[0]
        members = coord.cluster.lock()
        starts = starts_from_nrows(nrows)
        staging = "q.staging.1"
        for i in range(len(nrows)):                 # each member stages its own chunks (as a parse does)
            home = next(n for n in three if n.self_id == home_of(i, members))
            lo, hi = starts[i], starts[i + 1]
            home.chunks.put_many(staging, [(0, i, codecs.encode("real", x[lo:hi], None)),
                                           (1, i, codecs.encode("int", k[lo:hi].astype(np.int64), None))])
        header = FrameHeader("q", (ColumnHeader("x", "real"), ColumnHeader("k", "int")), starts, tuple(members), 1)
        coord.cluster.publish_frame(staging, header.to_wire())
        coord.chunks.rename_frame(staging, "q")
        coord.catalog.put(header)
        for node in three:
            assert node.catalog.get("q") == header
            assert node.chunks.frame_bytes(staging) == 0 and node.chunks.frame_bytes("q") > 0
        res = three[1].runtime.run("rollups.moments", "q", params=MOMENTS)
        finite = x[~np.isnan(x)]
        assert res["n"].tolist() == [finite.size, k.size]
        np.testing.assert_allclose(res["mean"], [finite.mean(), k.mean()], rtol=1e-12)


def test_a_publish_that_one_member_refuses_is_dropped_by_the_members_that_took_it():
    """All or nothing over the wire: when one member cannot take its part of a commit, the members
    that already moved their chunks and registered the header drop both again before the error
    reaches the caller, so no survivor keeps a frame whose other parts are missing."""
    nrows, x, k = columns_data(seed=13)
    with nodes(3) as three:
        coord, good, bad = three
        members = coord.cluster.lock()
        starts = starts_from_nrows(nrows)
        staging = "r.staging.1"
        for i in range(len(nrows)):
            home = next(n for n in three if n.self_id == home_of(i, members))
            lo, hi = starts[i], starts[i + 1]
            home.chunks.put_many(staging, [(0, i, codecs.encode("real", x[lo:hi], None)),
                                           (1, i, codecs.encode("int", k[lo:hi].astype(np.int64), None))])
        header = FrameHeader("r", (ColumnHeader("x", "real"), ColumnHeader("k", "int")), starts, tuple(members), 1)

        def refuse(h):
            raise ValueError("this member cannot register the header")

        bad.catalog.put = refuse                     # its part fails after its chunks moved
        with pytest.raises(Exception, match="cannot register the header"):
            coord.cluster.publish_frame(staging, header.to_wire())
        for node in (good, bad):
            assert node.catalog.find("r") is None, node.self_id
            assert node.chunks.frame_bytes("r") == 0, node.self_id


def test_a_failed_batched_put_raises_only_after_every_batch_ended(monkeypatch):
    """When one batch of a large ``put_chunks`` fails (e.g. over the member's memory budget), the
    error comes back only after the other batches ended, so the caller's clean-up on the member
    (discarding the staged chunks) runs after them and nothing is stored behind it."""
    import threading

    from shoal_server.cluster import view as view_mod
    from shoal_server.errors import MemoryExceeded

    monkeypatch.setattr(view_mod, "PUT_BATCH_BYTES", 1000)       # every chunk becomes its own message
    rng = np.random.default_rng(6)
    with nodes(2) as (a, b):
        real_put = b.chunks.put_many
        calls = []
        lock = threading.Lock()

        def put_many(key, items):
            items = list(items)
            with lock:
                calls.append([i for _c, i, _ch in items])
                first = len(calls) == 1
            if first:
                raise MemoryExceeded("over the budget (test)", {})
            time.sleep(0.5)                                        # the other batches are slower
            real_put(key, items)

        b.chunks.put_many = put_many
        items = [(0, i, codecs.encode("real", rng.standard_normal(300), None)) for i in range(3)]
        with pytest.raises(MemoryExceeded):
            a.cluster.put_chunks(b.self_id, "big.staging.1", items)
        b.chunks.remove_frame("big.staging.1")                     # the caller's discard on the member
        time.sleep(1.0)
        assert len(calls) == 3
        assert b.chunks.frame_bytes("big.staging.1") == 0
        assert not any(b.chunks.has("big.staging.1", 0, i) for i in range(3))

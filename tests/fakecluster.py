"""A fake ``ClusterView`` joining in-process nodes, for 1-node vs 3-node tests without sockets.

Params and partials round-trip through the cluster's msgpack partial codec, so what a test proves
about bits holds on the wire too. Importable: ``from fakecluster import FakeClusterView, wire``.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib

import msgpack

from shoal_server.cluster.protocol import _ext_hook, pack_partial, unpack_partial
from shoal_server.store.frame import FrameHeader

__all__ = ["FakeClusterView", "FakeMungingView", "fake_cluster", "wire"]


def wire(obj):
    """``obj`` after packing and unpacking with the cluster's partial codec."""
    tree, arrays = pack_partial(obj)
    back = msgpack.unpackb(msgpack.packb(tree, use_bin_type=True), raw=False, ext_hook=_ext_hook,
                           strict_map_key=False)
    return unpack_partial(back, [a.copy() for a in arrays])


class FakeClusterView:
    """The part of ``ClusterView`` the runtime uses: membership, maps and indexed maps."""

    def __init__(self, nodes, pool):
        self.nodes, self.pool = nodes, pool

    def members(self):
        return sorted(self.nodes)

    def lock(self):
        return self.members()

    def lost(self):
        return set()

    def live_members(self):
        return self.members()

    def submit_map(self, member, task, key, cols, params, idx, token=None):
        node, params = self.nodes[member], wire(params)
        return self.pool.submit(lambda: wire(node.runtime.execute_map(task, key, cols, params, idx, token=token)))

    def submit_indexed(self, member, task, params, idx, token=None):
        node, params = self.nodes[member], wire(params)
        return self.pool.submit(lambda: wire(node.runtime.execute_indexed(task, params, idx, token=token)))


class FakeMungingView(FakeClusterView):
    """:class:`FakeClusterView` plus what the munging engine uses: cluster ops (answered with
    nothing: ``task.cancel`` has nothing to stop in these tests), chunk puts and header broadcasts."""

    def __init__(self, nodes, pool, me):
        super().__init__(nodes, pool)
        self.me = me

    def submit(self, member, op, payload, timeout=None):
        fut = cf.Future()
        fut.set_result(None)
        return fut

    def put_chunks(self, member, key, chunks):
        self.nodes[member].chunks.put_many(key, chunks)

    def broadcast_header(self, header_wire):
        for mid, n in self.nodes.items():
            if mid != self.me:
                n.catalog.put(FrameHeader.from_wire(wire(header_wire)))

    def broadcast_remove(self, key):
        for mid, n in self.nodes.items():
            if mid != self.me:
                n.catalog.remove(key)


@contextlib.contextmanager
def fake_cluster(nnodes: int, base_port: int, threads: int = 2, view_cls=None):
    """``nnodes`` in-process nodes joined by :class:`FakeMungingView`s (or ``view_cls``, a subclass);
    yields the node list."""
    from shoal_server.config import NodeConfig
    from shoal_server.node import Node

    nodes = [Node(NodeConfig(threads=threads, port=base_port + 10 * i)) for i in range(nnodes)]
    pool = cf.ThreadPoolExecutor(8)
    by_id = {n.self_id: n for n in nodes}
    for n in nodes:
        n.cluster = (view_cls or FakeMungingView)(by_id, pool, n.self_id)
    try:
        yield nodes
    finally:
        pool.shutdown()
        for n in nodes:
            n.close()

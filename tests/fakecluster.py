"""A fake ``ClusterView`` joining in-process nodes, for 1-node vs 3-node tests without sockets.

Params and partials round-trip through the cluster's msgpack partial codec, so what a test proves
about bits holds on the wire too. Importable: ``from fakecluster import FakeClusterView, wire``.
"""
from __future__ import annotations

import msgpack

from shoal_server.cluster.protocol import _ext_hook, pack_partial, unpack_partial

__all__ = ["FakeClusterView", "wire"]


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

"""Publishing frames that tasks write, all or nothing, on every member.

Technical note. A task that writes a new frame (munging results, model predictions) stores its
chunks on each chunk's home node under a private *staging* key (``<dest>.staging.<hex>``), never
under the destination key. Only when every chunk of every node is written does :func:`publish` move
the staging chunks to the destination on every member (the ``frames.publish`` indexed task, one
index per member) and register the header in the catalog (broadcast to the other members). Any
failure before that drops the staging chunks everywhere (:func:`discard`), so no partial frame is
ever visible. The parser has its own variant (it must also fence late writes of a cancelled parse).
"""
from __future__ import annotations

import logging
import uuid

from ..errors import NodeLost
from ..store.frame import FrameHeader
from .registry import IndexedTask, register_task

log = logging.getLogger(__name__)

__all__ = ["staging_key", "publish", "discard", "delete_frame"]


def staging_key(dest: str) -> str:
    """A fresh private key to stage the chunks of frame ``dest`` under."""
    return f"{dest}.staging.{uuid.uuid4().hex[:12]}"


@register_task
class PublishChunks(IndexedTask):
    """On one member: move the staging chunks to the destination key (index = member position)."""

    name = "frames.publish"

    def map(self, ctx, index, params):
        ctx.node.chunks.rename_frame(params["staging"], params["dest"])
        return {}

    def reduce(self, a, b):
        return {}


@register_task
class DiscardChunks(IndexedTask):
    """On one member: free the chunks stored under ``params["key"]``."""

    name = "frames.discard"

    def map(self, ctx, index, params):
        ctx.node.chunks.remove_frame(params["key"])
        return {}

    def reduce(self, a, b):
        return {}


def _on_members(node, task: str, params: dict, members) -> None:
    members = list(members)
    if node.cluster is None or members == [node.self_id]:
        node.runtime.execute_indexed(task, params, [0])
        return
    node.runtime.run_indexed(task, len(members), params, members=members)


def publish(node, staging: str, header: FrameHeader) -> FrameHeader:
    """Make ``header`` (whose chunks sit under ``staging`` on every member) visible everywhere.

    All or nothing: when a member is already lost nothing is touched (``node_lost``); when a member
    fails part-way, the members that had moved their chunks to the key drop them again and the
    header is removed everywhere, so no frame with missing parts is ever visible (the caller still
    discards ``staging``).
    """
    members = list(header.members)
    cluster = node.cluster
    spread = cluster is not None and members != [node.self_id]
    if spread:
        gone = sorted(set(members) & set(cluster.lost()))
        if gone:
            raise NodeLost(f"Node {gone[0]} was lost; frame `{header.key}` had chunks on it, so it cannot be "
                           f"published. The other nodes keep serving.", {"node": gone[0], "frame": header.key})
    try:
        _on_members(node, PublishChunks.name, {"staging": staging, "dest": header.key}, members)
        node.catalog.put(header)
        if spread:
            cluster.broadcast_header(header.to_wire())
    except BaseException:
        _remove_everywhere(node, header.key, members)
        raise
    return header


def discard(node, key: str, members) -> None:
    """Free ``key``'s chunks on every live member, each on its own (a lost or failing member does
    not stop the others; a lost node holds nothing worth freeing)."""
    members = list(members)
    if node.cluster is None or members == [node.self_id]:
        node.chunks.remove_frame(key)
        return
    failed = node.runtime.run_on_each_live(DiscardChunks.name, {"key": key}, members)
    if node.self_id in failed:
        node.chunks.remove_frame(key)
    for member, exc in failed.items():
        log.warning("freeing the chunks of %s on %s failed: %s", key, member, exc)


def delete_frame(node, key: str) -> None:
    """Remove a frame (e.g. a temporary) from the catalog and from every member's chunk store."""
    header = node.catalog.remove(key)
    if header is None:
        return
    _remove_everywhere(node, key, header.members)


def _remove_everywhere(node, key: str, members) -> None:
    """Best effort: drop catalog entry ``key`` and its chunks here and on every live member."""
    node.catalog.remove(key)
    if node.cluster is not None:
        try:
            node.cluster.broadcast_remove(key)
        except Exception as exc:  # noqa: BLE001 - members that cannot hear it hold nothing reachable
            log.warning("removing %s from the other members' catalogs: %s", key, exc)
    discard(node, key, members)

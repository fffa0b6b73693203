"""Publishing frames that models write (predictions, holdout predictions, scoring temporaries).

Maps write their output chunks under a private staging key on the chunk's home node; only when
every chunk is written does :func:`publish` rename them to the destination key on every member and
register the header (broadcast to the other members). :func:`discard` frees a staging key or a
temporary frame everywhere. No partial frame is ever visible.
"""
from __future__ import annotations

import uuid

from ...store.frame import FrameHeader
from ...tasks import IndexedTask, register_task

__all__ = ["staging_key", "publish", "discard", "delete_frame"]


def staging_key(dest: str) -> str:
    return f"{dest}.staging.{uuid.uuid4().hex[:12]}"


@register_task
class PublishChunks(IndexedTask):
    """On one member: move the staging chunks to the destination key."""

    name = "algos.publish"

    def map(self, ctx, index, params):
        ctx.node.chunks.rename_frame(params["staging"], params["dest"])
        return {}

    def reduce(self, a, b):
        return {}


@register_task
class DiscardChunks(IndexedTask):
    """On one member: free the chunks stored under ``params["key"]``."""

    name = "algos.discard"

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
    _on_members(node, PublishChunks.name, {"staging": staging, "dest": header.key}, header.members)
    node.catalog.put(header)
    if node.cluster is not None and list(header.members) != [node.self_id]:
        node.cluster.broadcast_header(header.to_wire())
    return header


def discard(node, key: str, members) -> None:
    try:
        _on_members(node, DiscardChunks.name, {"key": key}, members)
    except Exception:  # noqa: BLE001 - a lost node holds nothing worth freeing
        node.chunks.remove_frame(key)


def delete_frame(node, key: str) -> None:
    header = node.catalog.remove(key)
    if header is None:
        return
    if node.cluster is not None:
        try:
            node.cluster.broadcast_remove(key)
        except Exception:  # noqa: BLE001
            pass
    discard(node, key, header.members)

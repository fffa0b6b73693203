"""Joining a `Node` to its cluster: the ``start(node)`` / ``stop(node)`` hooks that ``shoal-server`` calls.

This is the one place where the cluster layer meets the node: it wires the node's runtime, chunk
store and catalog behind the cluster ops (``ClusterView.set_handlers``). The transport itself stays
frame-agnostic; the store classes are imported here, lazily, only to rebuild received chunks and
headers.
"""
from __future__ import annotations

import logging
from typing import Any

import zmq

from ..errors import ShoalError
from .view import ClusterView

__all__ = ["start", "stop", "attach"]

log = logging.getLogger(__name__)

#: traffic that is not work (heartbeats and handshakes), left out of the ``sent_bytes_work`` stat
_HOUSEKEEPING = {"sent_bytes.hb", "sent_bytes.hello", "sent_bytes.welcome", "sent_bytes.refuse",
                 "sent_bytes.fenced"}


def attach(node: Any, view: ClusterView) -> None:
    """Serve ``node``'s runtime, chunks and catalog to the peers, and set ``node.cluster``."""
    from ..store.chunk import Chunk
    from ..store.frame import FrameHeader

    def put_chunks(frame_key: str, chunks: list[dict]) -> None:
        node.chunks.put_many(frame_key, [(c["col"], c["chunk"], Chunk(c["codec"], c["nrows"], c["buffers"], c["meta"]))
                                         for c in chunks])

    def apply_header(wire: dict) -> None:
        node.catalog.put(FrameHeader.from_wire(wire))

    def remove(key: str) -> None:
        node.catalog.remove(key)
        node.chunks.remove_frame(key)

    def stats() -> dict:
        frames = sum(1 for h in node.catalog.list() if isinstance(h, FrameHeader))
        running = node.jobs.running() if hasattr(node.jobs, "running") else []
        rt = node.runtime
        sent = [(k, v) for k, v in list(view.transport.counters.items()) if k.startswith("sent_bytes.")]
        work = sum(v for k, v in sent if k not in _HOUSEKEEPING)
        return {"frame_memory": int(node.chunks.bytes_used), "memory_budget": int(node.chunks.budget or 0),
                "frames": frames, "threads": int(node.config.threads), "jobs_running": len(running),
                "remote_maps_running": rt.remote_maps_running(), "remote_maps_started": rt.remote_maps_started,
                "remote_maps_cancelled": rt.remote_maps_cancelled, "broadcasts_held": rt.shared_count(),
                "sent_bytes": sum(v for _k, v in sent), "sent_bytes_work": work}

    def get_chunk(frame_key: str, col_idx: int, chunk_idx: int):
        return node.chunks.get(frame_key, col_idx, chunk_idx)

    view.set_handlers(execute_map=node.runtime.execute_map, execute_indexed=node.runtime.execute_indexed,
                      put_chunks=put_chunks, apply_header=apply_header, remove=remove,
                      get_chunk=get_chunk, chunk_factory=Chunk, rename=node.chunks.rename_frame,
                      stats=stats, cancel=node.runtime.cancel_remote, store_shared=node.runtime.store_shared,
                      drop_shared=node.runtime.drop_shared)
    extra_ops = getattr(node, "peer_ops", None)     # e.g. the model registry's replication (model.*)
    if extra_ops is not None:
        for op, fn in extra_ops().items():
            view.register(op, fn, executor=True)
    if view.self_id != node.self_id:
        log.info("This node's member id is %s (bound to %s)", view.self_id, node.config.bind)
        node.self_id = view.self_id
    node.cluster = view


async def start(node: Any) -> ClusterView:
    """Start the cluster layer on the running loop (the node's loop thread) and attach ``node``."""
    try:
        view = await ClusterView.start_async(node.config)
    except (ShoalError, ValueError, OSError, zmq.ZMQError) as exc:
        # a configuration problem: say it in one line and stop the node (no traceback)
        msg = exc.message if isinstance(exc, ShoalError) else str(exc)
        raise SystemExit(f"shoal-server: cannot join the cluster: {msg}") from None
    attach(node, view)
    return view


async def stop(node: Any) -> None:
    """Close the node's cluster sockets (peers will see it as lost)."""
    view = getattr(node, "cluster", None)
    if view is not None:
        node.cluster = None
        await view.close_async()

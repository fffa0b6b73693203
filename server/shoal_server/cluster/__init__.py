"""The cluster layer: ZeroMQ transport, membership, heartbeats and RPC between nodes.

It knows nothing of frames: it moves envelopes with numpy buffers (:mod:`.protocol`), keeps the
membership and fences lost nodes (:mod:`.membership`), owns the sockets on one asyncio loop
(:mod:`.transport`) and offers the node a thread-safe :class:`ClusterView` (:mod:`.view`).
``start(node)`` / ``stop(node)`` (:mod:`.attach`) are the hooks ``shoal-server`` calls when it has
peers.
"""
from .attach import attach, start, stop
from .protocol import Envelope, Limits, ProtocolError
from .transport import ClusterSettings, Transport, software_version
from .view import ClusterView

__all__ = ["start", "stop", "attach", "ClusterView", "ClusterSettings", "Transport", "Envelope", "Limits", "ProtocolError",
           "software_version"]

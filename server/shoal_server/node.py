"""The per-process node object: configuration, catalog, chunk store, runtime, jobs, cluster view.

Everything that serves requests (HTTP handlers, peer handlers, jobs) reaches the node's state
through one ``Node``. Tests build a node with ``Node(NodeConfig(...))``: no sockets are opened
until the API server (and the cluster layer) are started on it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading

from .config import NodeConfig

__all__ = ["Node"]


class Node:
    """One Shoal node's state.

    Attributes
    ----------
    config : NodeConfig
    self_id : str
        ``"host:port"`` of this node's HTTP endpoint; the member id in the cluster.
    catalog : store.catalog.Catalog
        Frame headers (replicated on every node of a cluster).
    chunks : store.chunkstore.ChunkStore
        This node's chunks, with memory accounting.
    runtime : tasks.Runtime
        The map/reduce runtime and compute pool.
    jobs : jobs.JobRegistry
    cluster : object or None
        The cluster view (``cluster/``) once the node joined one; None for a single node.
    """

    def __init__(self, config: NodeConfig | None = None):
        # Imports are local so that importing shoal_server stays cheap for the CLI's --help.
        from .jobs import JobRegistry
        from .store.catalog import Catalog
        from .store.chunkstore import ChunkStore
        from .tasks import Runtime

        self.config = config or NodeConfig()
        self.self_id = f"{self.config.bind}:{self.config.port}"
        self.catalog = Catalog()
        self.chunks = ChunkStore(self.config.effective_memory_budget())
        self.jobs = JobRegistry()
        self.cluster = None
        self._own_spool = self.config.spool_dir is None
        self.spool_dir = self.config.spool_dir or tempfile.mkdtemp(prefix="shoal-spool-")
        os.makedirs(self.spool_dir, exist_ok=True)
        self.runtime = Runtime(self)
        self._lock = threading.RLock()
        self._closed = False

    # ------------------------------------------------------------------ frames across the cluster
    def publish_frame(self, staging_key: str, header) -> None:
        """The cluster's half of a frame commit: every other live member moves the chunks it staged
        under ``staging_key`` to the frame's key and registers the header. No-op on one node."""
        if self.cluster is not None:
            self.cluster.publish_frame(staging_key, header.to_wire())

    def peer_ops(self) -> dict:
        """Cluster ops this node serves beyond frames and tasks: ``{op: fn(sender, payload)}`` (the
        model registry's replication, ``algos.common.replicate``); ``cluster.attach`` registers them."""
        from .algos.common.replicate import peer_ops
        return peer_ops(self)

    def close(self) -> None:
        """Stop the compute pool and drop the private spool directory."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.runtime.close()
        if self._own_spool:
            shutil.rmtree(self.spool_dir, ignore_errors=True)

    def __enter__(self) -> "Node":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

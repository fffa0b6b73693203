"""Every tunable of a node, with its default and help, in one place.

`NodeConfig` is built from the command line (`shoal_server.__main__`) or directly in tests.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

__all__ = ["NodeConfig", "DEFAULT_PORT"]

DEFAULT_PORT = 54330


def _default_threads() -> int:
    return max(1, os.cpu_count() or 1)


@dataclass
class NodeConfig:
    """Configuration of one node. Field metadata ``help`` is the CLI help."""

    port: int = field(default=DEFAULT_PORT, metadata={"help": "HTTP port; the node port (ZeroMQ) is port+1."})
    bind: str = field(default="127.0.0.1", metadata={"help": "Address to bind the HTTP and node ports to."})
    name: str = field(default="shoal", metadata={"help": "Cluster name; nodes with another name are refused."})
    data_roots: list[str] = field(default_factory=list,
                                  metadata={"help": "Directories that import_file may read (repeatable). "
                                                    "Default: the current directory."})
    export_root: str | None = field(default=None, metadata={"help": "Directory that exports may write into."})
    spool_dir: str | None = field(default=None,
                                  metadata={"help": "Directory for uploads in flight and decompressed input; "
                                                    "default: a private temporary directory."})
    memory_budget: int = field(default=0, metadata={"help": "Bytes of frame data this node may hold; "
                                                            "0 means 60% of physical memory."})
    threads: int = field(default_factory=_default_threads, metadata={"help": "Compute threads."})
    chunk_bytes: int = field(default=4 << 20, metadata={"help": "Target bytes of input text per parse chunk."})
    max_upload_bytes: int = field(default=64 << 30, metadata={"help": "Largest accepted upload body."})
    max_decompressed_ratio: int = field(default=200,
                                        metadata={"help": "Refuse compressed input that expands more than this."})
    peers: list[str] = field(default_factory=list, metadata={"help": "host:port of every cluster member (HTTP ports)."})
    secret_file: str | None = field(default=None, metadata={"help": "File with the cluster's shared secret."})
    heartbeat_interval: float = field(default=0.5, metadata={"help": "Seconds between heartbeats."})
    heartbeat_timeout: float = field(default=3.0, metadata={"help": "Seconds of silence before a node is lost."})
    cluster_curve: str = field(default="auto",
                               metadata={"help": "CURVE encryption and authentication of node traffic: on, off, or "
                                                 "auto (on when --bind is not a loopback address)."})
    auth_token_file: str | None = field(default=None,
                                        metadata={"help": "File with the bearer token clients must send."})
    parent_pid: int = field(default=0, metadata={"help": "Exit when this process exits (set by clients that "
                                                         "start a node)."})
    log_level: str = field(default="INFO", metadata={"help": "Logging level."})

    def resolved_roots(self) -> list[Path]:
        """Data roots as real paths (the current directory when none are configured)."""
        roots = self.data_roots or [os.getcwd()]
        return [Path(os.path.realpath(r)) for r in roots]

    def effective_memory_budget(self) -> int:
        if self.memory_budget > 0:
            return self.memory_budget
        try:
            pages = os.sysconf("SC_PHYS_PAGES")
            size = os.sysconf("SC_PAGE_SIZE")
            return int(pages * size * 0.6)
        except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
            return 8 << 30

    @classmethod
    def field_help(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in fields(cls)}

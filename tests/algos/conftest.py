"""Fixtures for the algorithm tests: an in-process node (no sockets); helpers in ``algo_helpers``."""
from __future__ import annotations

import pytest

from shoal_server.config import NodeConfig
from shoal_server.node import Node

import shoal_server.algos  # noqa: F401  (registers the algorithms and their tasks)
import shoal_server.metrics  # noqa: F401


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = Node(NodeConfig(threads=2, spool_dir=str(tmp_path_factory.mktemp("spool"))))
    yield n
    n.close()

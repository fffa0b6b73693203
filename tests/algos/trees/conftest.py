"""Fixtures of the tree tests: one in-process node (no sockets) and frame helpers."""
from __future__ import annotations

import pytest

from shoal_server.config import NodeConfig
from shoal_server.node import Node

import shoal_server.algos.drf  # noqa: F401  (registers the algorithm)
import shoal_server.algos.gbm  # noqa: F401



@pytest.fixture(scope="module")
def node():
    n = Node(NodeConfig(threads=2))
    yield n
    n.close()



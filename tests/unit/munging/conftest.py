"""Fixtures for the munging tests: one in-process node per module (no sockets)."""
from __future__ import annotations

import pytest

from shoal_server.config import NodeConfig
from shoal_server.node import Node


@pytest.fixture(scope="module")
def node():
    n = Node(NodeConfig(threads=2))
    yield n
    n.close()

"""Fixtures for the metrics tests: a node with two compute threads and no sockets."""
import pytest

from shoal_server.config import NodeConfig
from shoal_server.node import Node


@pytest.fixture
def node():
    n = Node(NodeConfig(threads=2))
    yield n
    n.close()

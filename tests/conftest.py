"""Shared pytest fixtures: a real node in a subprocess on a free loopback port.

``node_factory`` starts ``python -m shoal_server`` processes and always stops them (SIGTERM, then
SIGKILL) at the end of the test, even when the test fails. ``node`` is one node with a private data
root, module-scoped so a test module shares it; ``fresh_node`` is one per test.

    def test_x(node):
        r = node.get("/api/v1/frames")        # requests.Response
        node.data_root / "a.csv"              # files the node may import
"""
from __future__ import annotations

from typing import Any

import pytest

from nodeproc import NodeProcess, free_port  # noqa: F401  (re-exported for older imports)

__all__ = ["NodeProcess", "free_port"]


@pytest.fixture
def node_factory(tmp_path):
    """Start nodes with ``node_factory(extra_args=[...], token=...)``; all stop at the end."""
    started: list[NodeProcess] = []

    def make(**kw: Any) -> NodeProcess:
        sub = tmp_path / f"n{len(started)}"
        sub.mkdir()
        n = NodeProcess(sub, **kw)
        started.append(n)
        return n

    try:
        yield make
    finally:
        for n in started:
            n.stop()


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """One node shared by a test module (private data root at ``node.data_root``)."""
    n = NodeProcess(tmp_path_factory.mktemp("node"))
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture
def fresh_node(node_factory):
    """A node for one test."""
    return node_factory()

"""Fixtures shared by the client tests that drive one node through a module-wide connection.

A module opts in with ``pytestmark = pytest.mark.usefixtures("connected", "reconnect")`` (``connected``
first, so module-scoped data fixtures already use it); its own ``node``
fixture (if it defines one) is the node connected to.
"""
import pytest

import shoal


@pytest.fixture(scope="module")
def connected(node):
    """One ``shoal.init`` connection to ``node`` for the whole module."""
    return shoal.init(url=node.url, verbose=False)


@pytest.fixture
def reconnect(connected):
    """Make the module's connection current before each test (another module may have switched it)."""
    from shoal.connection import set_current_connection

    set_current_connection(connected)

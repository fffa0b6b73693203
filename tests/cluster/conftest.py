"""Fixtures for tests that start real node processes on loopback (see ``harness.py``)."""
from __future__ import annotations

import contextlib
import sys

import pytest

from harness import SOURCE_PATHS
from harness import cluster as _cluster

# test this tree's packages even when another checkout is installed (editable) meanwhile
for _p in reversed(SOURCE_PATHS):
    if _p not in sys.path:
        sys.path.insert(0, _p)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture
def make_cluster(request):
    """``make_cluster(n=3, **opts)`` starts a cluster that is always torn down after the test.

    When the test fails, every node's log is printed (and the cluster's directory kept).
    """
    made = []

    def start(n=3, **kw):
        cm = _cluster(n, **kw)
        c = stack.enter_context(cm)
        made.append(c)
        return c

    with contextlib.ExitStack() as stack:
        yield start
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            for c in made:
                c.keep = True
                sys.stderr.write(c.logs())

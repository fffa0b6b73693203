"""``max_runtime_secs`` stops GBM / DRF training after the current tree and keeps the trees built so
far (H2O-3's behaviour), also when the limit is the job's own."""
from __future__ import annotations

import time

import numpy as np
import pytest

from shoal_server.algos.common import api
from shoal_server.algos.common.model import models_of

from tree_helpers import column, make_frame


@pytest.fixture(scope="module")
def frame(node):
    rng = np.random.default_rng(3)
    n = 20000
    X = rng.normal(size=(n, 6))
    y = (X[:, 0] + np.sin(X[:, 1]) + 0.3 * rng.normal(size=n) > 0).astype(np.int32)
    cols = {f"x{j}": X[:, j] for j in range(6)}
    cols["y"] = (y, ("0", "1"))
    return make_frame(node, cols, chunk_rows=5000)


@pytest.mark.parametrize("algo", ["gbm", "drf"])
def test_time_limit_keeps_the_trees_built_so_far(node, frame, algo):
    base = dict(training_frame=frame, y="y", max_depth=5, seed=7, score_tree_interval=1000)
    api.train(node, algo, dict(base, ntrees=2))  # kernels compiled outside the timing
    t0 = time.monotonic()
    m = models_of(node).get(api.train(node, algo, dict(base, ntrees=5000, max_runtime_secs=1.5)))
    took = time.monotonic() - t0
    built = m.output["ntrees"]
    assert m.output["stopped_by_runtime"] is True
    assert 1 <= built < 5000 and took < 30
    # the kept trees are exactly the first `built` trees of an unlimited run with the same seed
    full = models_of(node).get(api.train(node, algo, dict(base, ntrees=built)))
    assert full.output["stopped_by_runtime"] is False
    for k in ("col", "thr", "value", "left", "right"):
        np.testing.assert_array_equal(m.arrays[k], full.arrays[k])
    p1 = column(node, api.predict(node, m.key, frame).key, "p1")
    p2 = column(node, api.predict(node, full.key, frame).key, "p1")
    np.testing.assert_array_equal(p1, p2)


def test_job_time_limit_returns_a_model_not_a_timeout(node, frame):
    from shoal_server import algos
    key = "gbm_runtime_job"
    params = dict(training_frame=frame, y="y", max_depth=5, seed=7, ntrees=5000, max_runtime_secs=1.0,
                  model_id=key, score_tree_interval=1000)
    job = node.jobs.start("train", "Train GBM", lambda j: algos.train(node, "gbm", dict(params), j),
                          max_runtime_secs=1.0, dest=key)
    assert job.wait(120)
    assert job.status == "DONE", (job.status, getattr(job, "error", None))
    m = models_of(node).get(key)
    assert m.output["stopped_by_runtime"] is True and 1 <= m.output["ntrees"] < 5000

"""The continuous-feature data of the tree reference tests (H2O-3 and LightGBM), from a seed.

Five standard normal features (5 % missing in ``x2``), one categorical ``c`` with 6 levels, a
binary response ``yb`` from a nonlinear logit and a numeric response ``yr``. Rows 0..NTRAIN-1
train, the rest test. ``make_h2o_tree_reference.py`` writes the same arrays to CSV (17 significant
digits, so H2O-3 reads the same doubles) and records H2O-3's test metrics.
"""
from __future__ import annotations

import numpy as np

NROWS = 30000
NTRAIN = 20000
LEVELS = ("a", "b", "c", "d", "e", "f")
FEATURES = ["x0", "x1", "x2", "x3", "x4", "c"]


def reference_data(seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    n = NROWS
    X = rng.normal(size=(n, 5))
    X[rng.random(n) < 0.05, 2] = np.nan
    c = rng.integers(0, len(LEVELS), n).astype(np.int32)
    ceff = np.array([0.0, 0.4, -0.3, 0.8, -0.6, 0.1])[c]
    s = (1.5 * X[:, 0] - np.nan_to_num(X[:, 2], nan=1.0) + np.sin(2 * X[:, 1]) + 0.5 * X[:, 3] * X[:, 4]
         + ceff)
    yb = (rng.random(n) < 1 / (1 + np.exp(-s))).astype(np.int32)
    yr = s + 0.5 * rng.normal(size=n)
    return {"X": X, "c": c, "yb": yb, "yr": yr}

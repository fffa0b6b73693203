"""``QuantilesGlobal`` bins are LightGBM's: every training value lands in the bin LightGBM gives it.

LightGBM's binned dataset is read back with ``Dataset._dump_text`` (the bin of every row and
feature); the engine's code of a value is the number of its edges ``<= x``. The two partitions must
be the same: a one-to-one map between Shoal codes and LightGBM bins over the rows.
"""
from __future__ import annotations

import lightgbm as lgb
import numpy as np

from shoal_server.algos.tree.binning import quantile_edges


def test_quantile_edges_reproduce_lightgbm_bins(tmp_path):
    rng = np.random.default_rng(1)
    n = 6000
    X = np.column_stack([
        rng.normal(size=n),                                                   # continuous, NaNs
        np.round(rng.exponential(2.0, n), 1) * (rng.random(n) < 0.7),         # many zeros and ties
        np.where(rng.random(n) < 0.2, 3.0, rng.normal(size=n) * 5),           # one value with 20 % of rows
        np.round(rng.standard_t(2, n), 2),                                    # heavy tails, negatives, NaNs
        rng.integers(-3, 400, n).astype(float),                               # more integers than bins
    ])
    X[rng.random(n) < 0.05, 0] = np.nan
    X[rng.random(n) < 0.1, 3] = np.nan
    path = tmp_path / "binned.txt"
    lgb.Dataset(X, np.zeros(n), params=dict(max_bin=255, min_data_in_bin=1, verbose=-1)).construct()._dump_text(
        str(path))
    lines = path.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(f"feature {X.shape[1] - 1}:")) + 1
    bins = np.array([[int(x) for x in line.strip().strip(",").split(",")] for line in lines[first:first + n]])
    assert bins.shape == X.shape
    for j in range(X.shape[1]):
        ok = ~np.isnan(X[:, j])
        vals, cnt = np.unique(X[ok, j], return_counts=True)
        edges = quantile_edges(vals, cnt, int((~ok).sum()), 255)
        ours = np.searchsorted(edges, X[ok, j], side="right")
        theirs = bins[ok, j]
        pairs = set(zip(ours.tolist(), theirs.tolist()))
        assert len(pairs) == len(set(ours.tolist())) == len(set(theirs.tolist())), j
        assert len(edges) + 1 <= 255 - (1 if (~ok).any() else 0)

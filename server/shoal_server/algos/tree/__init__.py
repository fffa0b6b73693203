"""The tree engine shared by GBM and DRF.

Modules: ``kernels`` (numba: binning, histograms, split search, routing, prediction), ``shap`` (exact TreeSHAP),
``binning`` (LightGBM's greedy bins for QuantilesGlobal), ``engine`` (binning passes, per-node training sessions, the ``tree.*`` map/reduce tasks and the
level-wise builder), ``losses`` (gradients and links), ``quantiles`` (quantile leaves), ``model``
(flat tree arrays, scoring, contributions, leaf assignment, variable importance), ``builder`` (the
training loop of both algorithms), ``scorer`` (standalone scoring code), ``params`` (shared
parameters).
"""
from ..common.scoring import register_scorer
from .model import predict_contributions, predict_leaf_node_assignment, score_expanded, tree_payload

__all__ = ["predict_contributions", "predict_leaf_node_assignment", "warm"]

for _algo in ("gbm", "drf"):
    register_scorer(_algo, score_expanded, tree_payload)


def warm() -> None:
    """Compile (or load from the cache) the tree kernels."""
    import numpy as np

    from . import kernels as K

    codes = np.zeros((1, 2), np.uint16)
    K.bin_numeric(np.array([0.0, np.nan]), np.array([0.5]), codes[0])
    K.bin_levels(np.array([0, -1], np.int32), np.array([0], np.int32), codes[0])
    u = np.zeros(2)
    K.splitmix_uniform(1, 1, 0, 2, u)
    hist = np.zeros((4, 3), np.int64)
    one = np.ones((1, 1), np.int64)
    none_i, none_u = np.zeros(0, np.int32), np.zeros(0, np.uint8)
    K.level_histograms(codes, np.zeros(1, np.int64), np.zeros(2, np.int32), np.ones(2, np.uint8),
                       np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int64), none_u, none_u,
                       np.zeros((0, 1), np.uint8), none_i, none_i, np.zeros(1, np.int32), 1,
                       np.ones((1, 1), np.uint8), np.ones(2, np.int64), np.ones(2, np.int64), np.ones(2, np.int64),
                       0 * one, 2 * one, 2 * one, 0 * one, hist)
    hist[:] = 0
    K.level_histograms(codes, np.zeros(1, np.int64), np.zeros(2, np.int32), np.ones(2, np.uint8),
                       np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int64), none_u, none_u,
                       np.zeros((0, 1), np.uint8), none_i, none_i, np.zeros(1, np.int32), 1,
                       np.ones((1, 1), np.uint8), np.ones(2, np.int64), np.ones(2, np.int64), np.ones(2, np.int64),
                       0 * one, 2 * one, 2 * one, 0 * one, hist, 2)
    gq = np.zeros(2, np.int64)
    K.quantize_rows(u, u, u, np.ones(2, np.uint8), 1.0, 1.0, 1.0, gq, gq.copy(), gq.copy())
    K.derive_histograms(hist, hist.copy(), np.zeros((1, 3), np.int64), 0 * one, 2 * one, 2 * one, 0 * one,
                        0 * one, 2 * one, 2 * one, 0 * one, np.zeros((1, 1), np.uint8))

"""Model building: the shared framework (``common``) and the algorithms (``glm``, ...).

Entry points for the API layer (all blocking; run them in a job thread):
``train(node, algo, params, job) -> model_key``, ``predict(node, model_key, frame_key, dest_key, job)``,
``model_performance``, ``get_model``, ``list_models``, ``remove_model``, ``model_to_json``,
``save_model``, ``load_model``, ``export_scorer``, ``algo_parameters(algo)`` and ``ALGOS``.
"""
from . import drf, gbm, glm  # noqa: F401  (each registers its algorithm)
from .common.api import (ALGOS, algo_parameters, export_scorer, get_model, list_models, load_model, model_performance,
                         model_to_json, predict, remove_model, save_model, train)
from .common.model import Model, ModelRegistry, models_of

__all__ = ["ALGOS", "algo_parameters", "train", "predict", "model_performance", "get_model", "list_models",
           "remove_model", "model_to_json", "save_model", "load_model", "export_scorer", "Model", "ModelRegistry",
           "models_of", "warm"]


def warm() -> None:
    """Compile (or load from the cache) the GLM and tree kernels; call at node start."""
    import numpy as np

    from .glm import kernels

    X = np.zeros((1, 1))
    G = np.zeros((2, 2))
    v = np.zeros(2)
    st = np.zeros(6)
    kernels.irls_pass(X, np.zeros(2), np.zeros(1), np.ones(1), np.zeros(1), 0, 0, 0.0, 1.0, 1.0, True, G, v.copy(),
                      v.copy(), st, np.zeros(1))
    kernels.multinomial_newton_pass(X, np.zeros((2, 2)), np.zeros(1), np.ones(1), True, np.zeros((4, 4)),
                                    np.zeros(4), st)
    kernels.predict_eta(X, np.zeros(2), np.zeros(1), np.zeros(1))
    kernels.link_inverse_array(1, 1.0, np.zeros(1), np.zeros(1))
    kernels.cd_solve(np.eye(2), np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), np.full(2, -np.inf),
                     np.full(2, np.inf), np.ones(2, dtype=np.bool_), 1e-12, 10)
    kernels.cholesky_collinear(np.eye(2), 1e-10, np.ones(2, dtype=np.bool_))
    # the sparse-categorical variants (one categorical column with no level set, one numeric column)
    C = np.full((1, 1), -1, dtype=np.int32)
    G3 = np.zeros((3, 3))
    kernels.irls_pass_split(C, X, 1, np.zeros(3), np.zeros(1), np.ones(1), np.zeros(1), 0, 0, 0.0, 1.0, 1.0, True,
                            G3, np.zeros(3), np.zeros(3), np.zeros(6), np.zeros(1))
    kernels.predict_eta_split(C, X, 1, np.zeros(3), np.zeros(1), np.zeros(1))
    kernels.cholesky_collinear_solve(np.eye(2), 1e-10, np.ones(2, dtype=np.bool_), np.zeros(2), np.zeros(2))
    # the binomial/logit pass and the cached chunks' row order, for each level-code width the cache uses
    for dt in (np.int8, np.int16, np.int32):
        Ck = np.full((1, 2), -1, dtype=dt)
        kernels.irls_pass_logit(Ck, X, 1, np.zeros(3), np.zeros(1), np.ones(1), np.zeros(1), True, np.zeros((3, 3)),
                                np.zeros(3), np.zeros(3), np.zeros(6))
        kernels.level_order(Ck, 0, 1, 3, np.zeros(1, np.int64))

    from .tree import warm as warm_trees

    warm_trees()

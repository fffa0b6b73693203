"""GLM: generalized linear models with elastic-net regularization (H2O-3's GLM).

Modules: ``params`` (the parameter declarations), ``kernels`` (numba: families, links, the IRLS
pass, coordinate descent), ``tasks`` (the ``glm.gram`` map/reduce), ``solver`` (IRLSM, multinomial,
L-BFGS, p-values), ``builder`` (training), ``model`` (scoring and the standalone scorer).
"""
from ..common.api import AlgoSpec, register_algo
from .builder import _distribution, train_glm
from .model import glm_scorer_source
from .params import GLM_PARAMS

__all__ = ["train_glm", "GLM_PARAMS"]

register_algo(AlgoSpec(
    name="glm",
    description="Generalized linear model (elastic net; IRLSM / L-BFGS; lambda search; cross-validation).",
    params=GLM_PARAMS,
    train=lambda node, params, job, key: train_glm(node, params, job, key),
    scorer_source=glm_scorer_source,
    distribution=lambda m: _distribution(m.output["family"], float(m.output.get("tweedie_variance_power", 0.0))),
))

"""GBM: gradient boosting machines on the shared tree engine (``algos.tree``), H2O-3's GBM.

Distributions bernoulli, multinomial, gaussian, poisson, gamma, tweedie, laplace, quantile, huber;
learning rate and its annealing, row and column sampling, monotone constraints, early stopping,
checkpoints, TreeSHAP contributions and leaf assignment, a standalone scorer.
"""
from ..common.api import AlgoSpec, register_algo
from ..tree import builder as _builder
from ..tree.scorer import tree_scorer_source
from .params import GBM_PARAMS

__all__ = ["train_gbm", "GBM_PARAMS"]


def train_gbm(node, params: dict, job=None, model_key: str | None = None):
    """Train a GBM model (``params`` as the API takes them); returns the :class:`Model`."""
    return _builder.train_tree_model(node, "gbm", GBM_PARAMS, params, job, model_key)


def _distribution(model) -> dict:
    d = model.output["dist"]
    name = model.output["distribution"]
    if name in ("bernoulli", "multinomial"):
        name = "gaussian"
    return {"distribution": name, "tweedie_power": d.get("tweedie_power"), "quantile_alpha": d.get("quantile_alpha"),
            "huber_delta": d.get("huber_delta")}


register_algo(AlgoSpec(
    name="gbm",
    description="Gradient boosting machine (histogram trees reduced across nodes).",
    params=GBM_PARAMS,
    train=lambda node, params, job, key: train_gbm(node, params, job, key),
    scorer_source=tree_scorer_source,
    distribution=_distribution,
))

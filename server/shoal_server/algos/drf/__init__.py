"""DRF: distributed random forest on the shared tree engine (``algos.tree``), H2O-3's DRF.

Trees fitted to the response (regression) or class indicators (one tree per class; a single tree
for two classes unless ``binomial_double_trees``), ``mtries`` columns tried per split, row sampling
without replacement at ``sample_rate``, out-of-bag training metrics.
"""
from ..common.api import AlgoSpec, register_algo
from ..tree import builder as _builder
from ..tree.scorer import tree_scorer_source
from .params import DRF_PARAMS

__all__ = ["train_drf", "DRF_PARAMS"]


def train_drf(node, params: dict, job=None, model_key: str | None = None):
    """Train a random forest (``params`` as the API takes them); returns the :class:`Model`."""
    return _builder.train_tree_model(node, "drf", DRF_PARAMS, params, job, model_key)


register_algo(AlgoSpec(
    name="drf",
    description="Distributed random forest (histogram trees reduced across nodes).",
    params=DRF_PARAMS,
    train=lambda node, params, job, key: train_drf(node, params, job, key),
    scorer_source=tree_scorer_source,
    distribution=lambda m: {"distribution": "gaussian"},
))

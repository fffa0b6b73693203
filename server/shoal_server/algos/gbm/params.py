"""GBM parameters (H2O-3's names and defaults)."""
from __future__ import annotations

from ..common.params import ParamSpec
from ..tree.params import TREE_PARAMS

__all__ = ["GBM_PARAMS", "DISTRIBUTIONS"]

DISTRIBUTIONS = ("AUTO", "bernoulli", "multinomial", "gaussian", "poisson", "gamma", "tweedie", "laplace",
                 "quantile", "huber")

GBM_PARAMS: tuple[ParamSpec, ...] = TREE_PARAMS + (
    ParamSpec("distribution", "string", "Loss (AUTO: bernoulli for 2 classes, multinomial for more, gaussian for "
              "a numeric response).", default="AUTO", values=DISTRIBUTIONS),
    ParamSpec("tweedie_power", "float", "Tweedie variance power.", default=1.5, min=1.0, max=2.0, min_exclusive=True,
              level="advanced"),
    ParamSpec("quantile_alpha", "float", "Quantile of the quantile distribution.", default=0.5, min=0.0, max=1.0,
              level="advanced"),
    ParamSpec("huber_alpha", "float", "Quantile of absolute residuals above which the huber loss is linear.",
              default=0.9, min=0.0, max=1.0, level="advanced"),
    ParamSpec("learn_rate", "float", "Learning rate (shrinkage).", default=0.1, min=0.0, max=1.0, min_exclusive=True,
              gridable=True),
    ParamSpec("learn_rate_annealing", "float", "Multiply the learning rate by this after each tree.", default=1.0,
              min=0.0, max=1.0, min_exclusive=True, level="advanced"),
    ParamSpec("col_sample_rate", "float", "Column sample rate per split.", default=1.0, min=0.0, max=1.0,
              gridable=True),
    ParamSpec("monotone_constraints", "dict", "Column name -> 1 (increasing) or -1 (decreasing).",
              level="advanced"),
    ParamSpec("max_abs_leafnode_pred", "float", "Largest absolute leaf value (before the learning rate).",
              default=1.7976931348623157e308, min=0.0, level="expert"),
)

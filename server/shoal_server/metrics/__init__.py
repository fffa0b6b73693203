"""Model metrics computed by map/reduce over a scored frame (see ``docs/metrics.md``).

Each problem type is a mergeable metric builder: ``partial`` (one chunk's rows → exact sums and
canonical rows or bins), ``merge``, ``finish`` (→ a JSON-able dict with H2O's names and tables).
Registered tasks run them where the chunks live (``metrics.regression``,
``metrics.regression_center``, ``metrics.binomial``, ``metrics.multinomial``); the
``*_from_arrays`` functions run the same code on in-memory arrays, for scoring during training.
Results have the same bits for any chunking, thread count or node count (``metrics.exact``).
"""
from .binomial import binomial_metrics, binomial_metrics_from_arrays
from .multinomial import multinomial_metrics, multinomial_metrics_from_arrays
from .regression import regression_metrics, regression_metrics_from_arrays

__all__ = ["regression_metrics", "regression_metrics_from_arrays", "binomial_metrics",
           "binomial_metrics_from_arrays", "multinomial_metrics", "multinomial_metrics_from_arrays", "warm"]


def warm() -> None:
    """Compile (or load from cache) the exact-sum kernels; the tasks are registered on import."""
    import numpy as np

    from . import exact

    exact.to_floats(exact.exact_sums(np.array([1.0, -2.5])))
    exact.to_floats(exact.exact_bincount(np.array([1.0]), np.array([0]), 1))
